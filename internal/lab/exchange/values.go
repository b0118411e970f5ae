package exchange

import (
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/google/uuid"
)

func guidV(u uuid.UUID) pwsh.Guid { return pwsh.Guid(u) }

// uriV is a URL property: *pwsh.Uri, or nil for $null.
func uriV(s *string) pwsh.Value {
	if s == nil {
		return nil
	}
	u, err := pwsh.NewUri(*s)
	if err != nil {
		return *s
	}
	return u
}

// strPtrV is a nullable string property.
func strPtrV(s *string) pwsh.Value {
	if s == nil {
		return nil
	}
	return *s
}

func arrV(ss []string) *pwsh.Array {
	items := make([]pwsh.Value, len(ss))
	for i, s := range ss {
		items[i] = s
	}
	return pwsh.NewArray(items...)
}

func servicesV(s org.Services) *pwsh.Flags {
	f := &pwsh.Flags{Type: "Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices", Value: int64(s)}
	if s == 0 {
		f.Names = []string{"None"}
	} else {
		f.Names = strings.Split(s.String(), ", ")
	}
	return f
}

func enumV(typ string, names []string, name string) pwsh.Value {
	for i, n := range names {
		if strings.EqualFold(n, name) {
			return &pwsh.Flags{Type: typ, Names: []string{n}, Value: int64(i)}
		}
	}
	if name == "" {
		return nil
	}
	return name
}

func authMethodV(name string) pwsh.Value {
	return enumV("Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod", authMethodNames, name)
}

func epTokenV(name string) pwsh.Value {
	if name == "" {
		name = "None"
	}
	return enumV("Microsoft.Exchange.Data.Directory.ExtendedProtectionTokenCheckingMode", epTokenCheckingNames, name)
}

// enumName is the name of a bound TEnum value (or its text).
func enumName(v pwsh.Value) string {
	if f, ok := v.(*pwsh.Flags); ok && len(f.Names) > 0 {
		return strings.Join(f.Names, ", ")
	}
	return pwsh.ToString(v)
}

// stringsOf unrolls a bound array (or scalar) into strings.
func stringsOf(v pwsh.Value) []string {
	if v == nil {
		return nil
	}
	var out []string
	for _, it := range pwsh.Unroll(v) {
		if it == nil {
			continue
		}
		out = append(out, pwsh.ToString(it))
	}
	return out
}

// multiValued applies a MultiValuedProperty argument to cur: an array
// replaces, @{Add=…; Remove=…} edits, $null clears.
func multiValued(cur []string, v pwsh.Value) []string {
	h, ok := v.(*pwsh.Hashtable)
	if !ok {
		return stringsOf(v)
	}
	out := append([]string(nil), cur...)
	for _, e := range h.Entries() {
		switch strings.ToLower(e.Name) {
		case "add":
			for _, s := range stringsOf(e.Value) {
				if !containsFold(out, s) {
					out = append(out, s)
				}
			}
		case "remove":
			for _, s := range stringsOf(e.Value) {
				out = removeFold(out, s)
			}
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func removeFold(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if !strings.EqualFold(x, s) {
			out = append(out, x)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func equalStrPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
