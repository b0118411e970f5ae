package dnsserver

import (
	"sync"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// MemZone is a Backend held in memory, for tests and for the fakes of
// provider APIs (internal/lab/dnsapi) that share one zone with a server:
// what a fake writes is what the server then answers.
type MemZone struct {
	mu sync.Mutex
	z  org.Zone
}

// NewMemZone returns a backend holding a copy of z.
func NewMemZone(z org.Zone) *MemZone { return &MemZone{z: copyOrgZone(z)} }

// Zone returns a copy of the zone.
func (m *MemZone) Zone() (org.Zone, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copyOrgZone(m.z), nil
}

// UpdateZone runs fn on a copy and keeps it when fn succeeds.
func (m *MemZone) UpdateZone(fn func(*org.Zone) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := copyOrgZone(m.z)
	if err := fn(&c); err != nil {
		return err
	}
	m.z = c
	return nil
}

func copyOrgZone(z org.Zone) org.Zone {
	c := z
	c.NS = append([]string(nil), z.NS...)
	c.Records = append([]org.Record(nil), z.Records...)
	return c
}
