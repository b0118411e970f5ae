package rps

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

func TestDotNetName(t *testing.T) {
	tests := []struct {
		name pkix.Name
		want string
	}{
		{pkix.Name{CommonName: "Solo-E19A"}, "CN=Solo-E19A"},
		{pkix.Name{CommonName: "mail.contoso.test", Organization: []string{"Contoso"}, Country: []string{"US"}}, "CN=mail.contoso.test, O=Contoso, C=US"},
		{pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a, b"}}}, `CN="a, b"`},
		{pkix.Name{CommonName: "x", Province: []string{"WA"}}, "CN=x, S=WA"},
	}
	for _, tt := range tests {
		if got := dotNetName(tt.name); got != tt.want {
			t.Errorf("dotNetName(%v) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
