package exchange

import (
	"reflect"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func TestBoolParams(t *testing.T) {
	tests := []struct {
		name  string
		param string
		val   any
		want  bool // whether the table knows the parameter
		check func(v *org.VDir) bool
	}{
		{"a parameter sets its field", "RequireSSL", true, true, func(v *org.VDir) bool { return v.RequireSSL }},
		{"an alias sets the field it names", "BasicAuthEnabled", true, true, func(v *org.VDir) bool { return v.BasicAuthentication }},
		{"a value converts as PowerShell does", "WindowsAuthEnabled", "yes", true, func(v *org.VDir) bool { return v.WindowsAuthentication }},
		{"$false clears the field", "DigestAuthentication", false, true, func(v *org.VDir) bool { return !v.DigestAuthentication }},
		{"another parameter is not the table's", "InternalUrl", true, false, func(v *org.VDir) bool { return reflect.DeepEqual(*v, org.VDir{DigestAuthentication: true}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &org.VDir{DigestAuthentication: true}
			if got := vdirBools.set(v, tt.param, tt.val); got != tt.want {
				t.Fatalf("set(%s) = %v, want %v", tt.param, got, tt.want)
			}
			if !tt.check(v) {
				t.Fatalf("set(%s, %v) left %+v", tt.param, tt.val, v)
			}
		})
	}
}

func TestBoolFieldsRefusesAWrongTable(t *testing.T) {
	for _, field := range []string{"NoSuchField", "InternalUrl"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("boolFields accepted %s", field)
				}
			}()
			boolFields[org.VDir]([]string{field}, nil)
		}()
	}
}
