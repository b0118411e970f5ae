package org_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func TestBoundCertificates(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := func(tp, server string, s org.Services, st string, key string, days int) *org.Certificate {
		return &org.Certificate{Thumbprint: tp, Server: server, Services: s, Status: st, CertPEM: "C", KeyPEM: key, NotBefore: t0.AddDate(0, 0, days)}
	}
	o := &org.Org{Certificates: []*org.Certificate{
		cert("OLD", "EX1", org.ServiceSMTP|org.ServiceIIS, org.CertValid, "K", 0),
		cert("NEW", "ex1", org.ServiceSMTP, org.CertValid, "K", 10),
		cert("IIS", "EX1", org.ServiceIIS, org.CertValid, "K", 20),
		cert("NOKEY", "EX1", org.ServiceSMTP, org.CertValid, "", 30),
		cert("OTHER", "EX2", org.ServiceSMTP, org.CertValid, "K", 40),
		cert("PENDING", "EX1", org.ServiceSMTP, org.CertPendingRequest, "K", 50),
	}}
	tests := []struct {
		services org.Services
		want     []string
	}{
		{org.ServiceSMTP, []string{"NEW", "OLD"}},
		{org.ServiceIIS, []string{"IIS", "OLD"}},
		{org.ServicePOP, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, c := range o.BoundCertificates("EX1", tc.services) {
			got = append(got, c.Thumbprint)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("BoundCertificates(EX1, %v) = %v, want %v", tc.services, got, tc.want)
		}
	}
}
