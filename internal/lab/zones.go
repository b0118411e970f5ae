package lab

import (
	"fmt"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// zoneBackend serves one view's zone from the organisation store: the DNS
// server reads a copy and writes back through Store.Update, so an UPDATE is
// persisted to DIR/org.json before it is answered.
type zoneBackend struct {
	st   *org.Store
	view string
}

func copyZone(z *org.Zone) org.Zone {
	c := *z
	c.NS = append([]string(nil), z.NS...)
	c.Records = append([]org.Record(nil), z.Records...)
	return c
}

// Zone returns a copy of the view's zone.
func (b zoneBackend) Zone() (org.Zone, error) {
	var z org.Zone
	found := false
	b.st.Read(func(o *org.Org) {
		if x := o.Zone(b.view); x != nil {
			z, found = copyZone(x), true
		}
	})
	if !found {
		return org.Zone{}, fmt.Errorf("lab: the organisation has no %s zone", b.view)
	}
	return z, nil
}

// UpdateZone applies fn to a copy and stores it when fn succeeds.
func (b zoneBackend) UpdateZone(fn func(*org.Zone) error) error {
	return b.st.Update(func(o *org.Org) error {
		x := o.Zone(b.view)
		if x == nil {
			return fmt.Errorf("lab: the organisation has no %s zone", b.view)
		}
		c := copyZone(x)
		if err := fn(&c); err != nil {
			return err
		}
		*x = c
		return nil
	})
}
