package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
	yaml "go.yaml.in/yaml/v3"
)

// DefaultFile is the config file read when --config is not given.
const DefaultFile = "exrunbook.yaml"

// LoadOptions says where Load reads from.
type LoadOptions struct {
	// File is the config file. "" means DefaultFile, which may be absent
	// (every key can come from the environment); a File given explicitly
	// must exist.
	File string
	// Set overrides keys from command-line flags (highest precedence):
	// dotted key → value as typed on the command line.
	Set map[string]string
}

// Load reads the config file, the EXRUNBOOK_* environment and the flag
// overrides, unmarshals them once into a Config and validates it. Any
// problem, in any key, is reported in one *Error. Load touches only the
// config file and the files it names (to check that they exist and, for
// secrets, their mode); it never touches the network or the state
// directory.
func Load(opts LoadOptions) (*Config, error) {
	cfg, ps, fileNote := decode(opts)
	if err := ps.err(); err != nil {
		if fileNote != "" {
			e := err.(*Error)
			e.Problems = append([]Problem{{Message: fileNote}}, e.Problems...)
			e.NoFile = DefaultFile
		}
		return nil, err
	}
	return cfg, nil
}

// decode does Load's work: it returns the config (nil when the file could
// not be read), every problem found, and a note when the default file is
// absent.
func decode(opts LoadOptions) (*Config, *problems, string) {
	loadKeys()
	file, explicit := opts.File, opts.File != ""
	if !explicit {
		file = DefaultFile
	}
	ps := &problems{}
	data, err := os.ReadFile(file)
	fileNote := ""
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		data, file = nil, ""
		fileNote = fmt.Sprintf("no config file %s in the current directory", DefaultFile)
	default:
		ps.add("", "config file %q: %v", opts.File, unwrapPath(err))
		return nil, ps, ""
	}

	doc, parsed := parseDoc(file, data, ps)
	if !parsed {
		// A file that does not parse is reported alone: values read
		// from it would be guesses.
		return nil, ps, ""
	}

	v := viper.New()
	v.SetConfigType("yaml")
	if len(data) > 0 {
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			if len(ps.list) == 0 {
				ps.addAt(file, 0, "", "cannot read YAML: %v", err)
			}
			return nil, ps, ""
		}
	}
	def := Default()
	defVal := reflect.ValueOf(def).Elem()
	for _, k := range keyList {
		// Every key is bound explicitly: viper ignores unbound variables.
		if err := v.BindEnv(k.Path, EnvName(k.Path)); err != nil {
			ps.add(k.Path, "cannot bind %s: %v", EnvName(k.Path), err)
		}
		v.SetDefault(k.Path, defVal.FieldByIndex(k.Index).Interface())
	}
	for key, val := range opts.Set {
		if _, ok := keyByPath[key]; !ok {
			ps.add(key, "unknown key set by a flag; did you mean %s?", nearestKey(key))
			continue
		}
		v.Set(key, val)
	}

	cfg := Default()
	cfg.File = file
	sources := map[string]string{}
	cv := reflect.ValueOf(cfg).Elem()
	reported := map[string]bool{}
	for _, p := range ps.list {
		reported[p.Key] = true
	}
	for _, k := range keyList {
		src, node := sourceOf(k.Path, opts.Set, doc, file)
		sources[k.Path] = src
		if reported[k.Path] && src == "" {
			continue // the file's value was refused while parsing
		}
		if k.Kind == kindMap {
			m, ok := mapValue(k.Path, opts.Set, doc, ps, src, file)
			if ok {
				cv.FieldByIndex(k.Index).Set(reflect.ValueOf(m))
			}
			continue
		}
		val := v.Get(k.Path)
		if node != nil && node.Kind == yaml.ScalarNode && k.Kind == kindString {
			val = node.Value // keep the text as written: 0123, 1e5, yes
		}
		if val == nil {
			continue
		}
		if err := setField(cv.FieldByIndex(k.Index), k.Kind, val); err != nil {
			ps.list = append(ps.list, withSource(Problem{Key: k.Path, Message: err.Error()}, src, file, node))
		}
	}
	cfg.secrets = newSecretStore(nil)
	resolveFiles(cfg, file, doc, opts.Set)

	var vps problems
	cfg.validate(&vps)
	for _, p := range ps.list {
		reported[p.Key] = true
	}
	for _, p := range vps.list {
		if base, _, ok := indexedKey(p.Key); reported[p.Key] || (ok && reported[base]) {
			continue // already reported: the value was not usable
		}
		src, node := sourceOf(p.Key, opts.Set, doc, file)
		if base, idx, ok := indexedKey(p.Key); ok {
			src, node = sourceOf(base, opts.Set, doc, file)
			if node != nil && node.Kind == yaml.SequenceNode && idx < len(node.Content) {
				node = node.Content[idx]
				src = fmt.Sprintf("%s:%d", file, node.Line)
			}
		}
		if src == "" {
			src = sources[p.Key]
			if i := strings.Index(p.Key, ".https."); i >= 0 && src == "" {
				src = sources[p.Key[:i+len(".https")]]
			}
		}
		ps.list = append(ps.list, withSource(p, src, file, node))
	}
	return cfg, ps, fileNote
}

func withSource(p Problem, src, file string, node *yaml.Node) Problem {
	p.Source = src
	if node != nil && strings.HasPrefix(src, file+":") {
		p.file, p.line = file, node.Line
	}
	return p
}

// indexedKey splits "certificate.services[1]" into its key and index.
func indexedKey(key string) (string, int, bool) {
	i := strings.LastIndex(key, "[")
	if i < 0 || !strings.HasSuffix(key, "]") {
		return "", 0, false
	}
	n, err := strconv.Atoi(key[i+1 : len(key)-1])
	if err != nil {
		return "", 0, false
	}
	return key[:i], n, true
}

// docIndex is the parsed YAML: each key path with its value node.
type docIndex struct {
	values map[string]*yaml.Node
}

// sourceOf says where key's value comes from, in viper's precedence:
// flag, environment, file, default.
func sourceOf(key string, set map[string]string, doc docIndex, file string) (src string, node *yaml.Node) {
	if _, ok := set[key]; ok {
		return "flag", nil
	}
	if v, ok := os.LookupEnv(EnvName(key)); ok && v != "" {
		return "environment variable " + EnvName(key), nil
	}
	if n, ok := doc.values[key]; ok && n.Tag != "!!null" {
		return fmt.Sprintf("%s:%d", file, n.Line), n
	}
	return "", nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDoc parses data with yaml.v3 nodes, reporting (with file:line)
// syntax errors, duplicate and unknown keys, sections that are not
// mappings, and secrets written in the file.
func parseDoc(file string, data []byte, ps *problems) (docIndex, bool) {
	doc := docIndex{values: map[string]*yaml.Node{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return doc, true
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			ps.addAt(file, line, "", "invalid YAML: %s", m[2])
		} else {
			ps.addAt(file, 0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
		}
		return doc, false
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return doc, true
	}
	top := root.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return doc, true
	}
	if top.Kind != yaml.MappingNode {
		ps.addAt(file, top.Line, "", "the config file must be a mapping of sections (exchange:, namespace:, ...), not %s", describeNode(top))
		return doc, false
	}
	walkDoc(file, top, "", doc, ps)
	return doc, true
}

// secretKeys maps a secret written in the YAML to where it belongs.
var secretKeys = map[string]secretSpec{
	"exchange.password":                    specExchangePassword,
	"exchange.pass":                        specExchangePassword,
	"public_dns.tsig.secret":               specTSIGSecret,
	"public_dns.tsig.key":                  specTSIGSecret,
	"public_dns.tsig_secret":               specTSIGSecret,
	"certificate.pfx_password":             specPFXPassword,
	"certificate.password":                 specPFXPassword,
	"autodiscover.probe.password":          specProbePassword,
	"autodiscover.probe_password":          specProbePassword,
	"autodiscover.password":                specProbePassword,
	"public_dns.tsig.secret_base64":        specTSIGSecret,
	"public_dns.cloudflare.api_token":      specCloudflareToken,
	"public_dns.cloudflare.token":          specCloudflareToken,
	"public_dns.hetzner.api_token":         specHetznerToken,
	"public_dns.hetzner.token":             specHetznerToken,
	"public_dns.ionos.api_token":           specIONOSToken,
	"public_dns.ionos.api_key":             specIONOSToken,
	"public_dns.route53.secret_access_key": specRoute53Token,
	"public_dns.route53.api_token":         specRoute53Token,
	"public_dns.azure.client_secret":       specAzureToken,
	"public_dns.azure.secret":              specAzureToken,
	"public_dns.azure.api_token":           specAzureToken,
	"certificate.acme.eab_hmac":            specACMEEABHMAC,
	"certificate.acme.hmac":                specACMEEABHMAC,
}

func init() {
	// certificate.acme.challenge_dns takes the same keys as public_dns:
	// a secret written under it is sent to its own variable and file key.
	k := string(ChallengeDNSKey)
	for _, leaf := range []string{"tsig.secret", "tsig.key", "tsig_secret", "tsig.secret_base64"} {
		secretKeys[k+"."+leaf] = tsigSpec(ChallengeDNSKey)
	}
	for _, m := range PublicDNSAPIModes {
		s, _ := providerSpec(ChallengeDNSKey, m)
		secretKeys[k+"."+m+".api_token"] = s
	}
	s, _ := providerSpec(ChallengeDNSKey, "azure")
	secretKeys[k+".azure.client_secret"] = s
}

func looksSecret(leaf string) bool {
	l := strings.ToLower(leaf)
	if strings.HasSuffix(l, "_file") {
		return false
	}
	for _, w := range []string{"password", "passwd", "secret", "passphrase", "token", "private_key"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

func walkDoc(file string, m *yaml.Node, prefix string, doc docIndex, ps *problems) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		name := kn.Value
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if first, dup := seen[name]; dup {
			ps.addAt(file, kn.Line, path, "duplicate key (first set on line %d); expected each key once", first)
			continue
		}
		seen[name] = kn.Line
		if spec, ok := secretKeys[path]; ok || looksSecret(name) {
			if ok {
				ps.addAt(file, kn.Line, path, "a secret must not be written in the config file; set %s, or put it in a file with mode 0600 and name that file in %s", spec.env, spec.fileKey)
			} else {
				ps.addAt(file, kn.Line, path, "looks like a secret, and secrets must not be written in the config file; use the environment (EXRUNBOOK_EXCHANGE_PASSWORD, EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET, EXRUNBOOK_CERTIFICATE_PFX_PASSWORD, EXRUNBOOK_PROBE_PASSWORD) or a *_file key naming a 0600 file")
			}
			continue
		}
		if isSection(path) {
			switch {
			case vn.Kind == yaml.MappingNode:
				walkDoc(file, vn, path, doc, ps)
			case vn.Kind == yaml.ScalarNode && vn.Tag == "!!null":
			default:
				ps.addAt(file, vn.Line, path, "expected a mapping with the keys %s, not %s", strings.Join(sectionList[path], ", "), describeNode(vn))
			}
			continue
		}
		k, ok := keyByPath[path]
		if !ok {
			ps.addAt(file, kn.Line, path, "unknown key; did you mean %s?", nearestKey(path))
			continue
		}
		if k.Kind != kindMap && vn.Kind == yaml.MappingNode {
			ps.addAt(file, vn.Line, path, "expected %s, not a mapping", kindWord(k.Kind))
			continue
		}
		if k.Kind != kindList && k.Kind != kindMap && vn.Kind == yaml.SequenceNode {
			ps.addAt(file, vn.Line, path, "expected %s, not a list", kindWord(k.Kind))
			continue
		}
		doc.values[path] = vn
		if k.Kind == kindMap && vn.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(vn.Content); j += 2 {
				doc.values[path+"."+vn.Content[j].Value] = vn.Content[j+1]
			}
		}
	}
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "this value"
	}
}

func kindWord(k leafKind) string {
	switch k {
	case kindBool:
		return "true or false"
	case kindInt:
		return "a whole number"
	case kindDuration:
		return "a duration such as 2h or 90m"
	case kindList:
		return "a list"
	case kindMap:
		return "a mapping"
	default:
		return "a string"
	}
}

// mapValue reads exchange.https with its keys' case preserved (viper
// lowercases map keys). The environment form is "EX01=host:port,EX02=host:port".
func mapValue(key string, set map[string]string, doc docIndex, ps *problems, src, file string) (map[string]string, bool) {
	raw, fromFlag := set[key]
	if !fromFlag {
		if v, ok := os.LookupEnv(EnvName(key)); ok && v != "" {
			raw, fromFlag = v, true
		}
	}
	if fromFlag {
		out := map[string]string{}
		for _, part := range strings.Split(raw, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, addr, ok := strings.Cut(part, "=")
			if !ok || strings.TrimSpace(name) == "" {
				ps.list = append(ps.list, Problem{Key: key, Source: src, Message: fmt.Sprintf("%q is not SERVER=host:port; expected a list such as EX01=ex01.contoso.com:443,EX02=ex02.contoso.com:443", part)})
				return nil, false
			}
			out[strings.TrimSpace(name)] = strings.TrimSpace(addr)
		}
		return out, true
	}
	n, ok := doc.values[key]
	if !ok || n.Tag == "!!null" {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		ps.addAt(file, n.Line, key, "expected a mapping of server name to host:port such as {EX01: \"ex01.contoso.com:443\"}, not %s", describeNode(n))
		return nil, false
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if vn.Kind != yaml.ScalarNode {
			ps.addAt(file, vn.Line, key+"."+kn.Value, "expected host:port such as \"ex01.contoso.com:443\", not %s", describeNode(vn))
			continue
		}
		if _, dup := out[kn.Value]; dup {
			ps.addAt(file, kn.Line, key+"."+kn.Value, "duplicate server; expected each server once")
			continue
		}
		out[kn.Value] = vn.Value
	}
	return out, true
}

// setField converts a value from viper (YAML-typed, or a string from the
// environment or a flag) into the field.
func setField(f reflect.Value, kind leafKind, val any) error {
	switch kind {
	case kindString:
		switch x := val.(type) {
		case string:
			f.SetString(strings.TrimSpace(x))
		case bool, int, int64, uint64, float64:
			f.SetString(fmt.Sprint(x))
		default:
			return fmt.Errorf("expected a string, not %s", describe(val))
		}
	case kindBool:
		switch x := val.(type) {
		case bool:
			f.SetBool(x)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				return fmt.Errorf("%q is not a boolean; expected true or false", x)
			}
			f.SetBool(b)
		default:
			return fmt.Errorf("%s is not a boolean; expected true or false", describe(val))
		}
	case kindInt:
		n, err := toInt(val)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case kindDuration:
		switch x := val.(type) {
		case Duration:
			f.SetInt(int64(x))
		case time.Duration:
			f.SetInt(int64(x))
		case string:
			d, err := ParseDuration(x)
			if err != nil {
				return fmt.Errorf("%q is not a duration; expected a number with a unit, such as 2h, 90m, 5s or 30d", x)
			}
			f.SetInt(int64(d))
		case int:
			if x != 0 {
				return fmt.Errorf("%d has no unit; expected a duration such as 2h, 90m or 5s", x)
			}
			f.SetInt(0)
		default:
			return fmt.Errorf("%s is not a duration; expected a number with a unit, such as 2h, 90m or 5s", describe(val))
		}
	case kindList:
		var out []string
		switch x := val.(type) {
		case []string:
			out = append(out, x...)
		case []any:
			for _, e := range x {
				switch s := e.(type) {
				case string:
					out = append(out, strings.TrimSpace(s))
				case int, float64, bool:
					out = append(out, fmt.Sprint(s))
				default:
					return fmt.Errorf("list item %s is not a string; expected a list of strings", describe(e))
				}
			}
		case string:
			for _, s := range strings.Split(x, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		default:
			return fmt.Errorf("expected a list, not %s", describe(val))
		}
		f.Set(reflect.ValueOf(out))
	}
	return nil
}

func toInt(val any) (int64, error) {
	switch x := val.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt32 {
			return 0, fmt.Errorf("%d is too large", x)
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
			return 0, fmt.Errorf("%v is not a whole number; expected a whole number", x)
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number; expected a whole number such as 300", x)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s is not a whole number; expected a whole number", describe(val))
	}
}

func describe(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(x)
	default:
		return fmt.Sprintf("%v", x)
	}
}

// SortedServers returns the keys of exchange.https in order.
func (e Exchange) SortedServers() []string {
	out := make([]string, 0, len(e.HTTPS))
	for k := range e.HTTPS {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolveFiles makes the relative paths of *_file keys written in the
// config file relative to the file's directory, as an administrator
// expects of `--config /etc/exrunbook/exrunbook.yaml` naming `new.pfx`.
// Paths from the environment or flags stay relative to the working
// directory.
func resolveFiles(cfg *Config, file string, doc docIndex, set map[string]string) {
	if file == "" {
		return
	}
	dir := filepath.Dir(file)
	cv := reflect.ValueOf(cfg).Elem()
	for _, k := range keyList {
		if k.Kind != kindString || !strings.HasSuffix(k.Path, "_file") {
			continue
		}
		if _, fromFile := doc.values[k.Path]; !fromFile {
			continue
		}
		if _, fromFlag := set[k.Path]; fromFlag {
			continue
		}
		if v, ok := os.LookupEnv(EnvName(k.Path)); ok && v != "" {
			continue
		}
		f := cv.FieldByIndex(k.Index)
		if p := f.String(); p != "" && !filepath.IsAbs(p) {
			f.SetString(filepath.Join(dir, p))
		}
	}
}
