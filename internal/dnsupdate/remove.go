package dnsupdate

import (
	"context"
	"fmt"
)

// RemoveRecords deletes exactly the given records (RFC 2136 2.5.4: class
// NONE), in one TSIG-signed UPDATE, leaving the other records of their
// RRsets; a record that is not there is no error. The DNS-01 challenge
// records of the certificate step are removed this way, so that another
// client's challenge at the same name survives.
func (c *Client) RemoveRecords(ctx context.Context, sets []RRset) (err error) {
	defer func() { err = c.rename(err) }()
	if err := c.TSIG.Check(); err != nil {
		return err
	}
	z, err := CheckZone(c.Zone)
	if err != nil {
		return fmt.Errorf("public_dns.zone: %w", err)
	}
	if len(sets) == 0 {
		return nil
	}
	m, err := Update{}.msg(z)
	if err != nil {
		return err
	}
	for _, s := range sets {
		if err := (Update{Delete: []RRset{s}}).checkIn(z); err != nil {
			return fmt.Errorf("update of zone %s: %w", z, err)
		}
		rrs, err := s.toRRs()
		if err != nil {
			return fmt.Errorf("update of zone %s: %w", z, err)
		}
		m.Remove(rrs)
	}
	signedAt := c.clock()
	r, attempts, err := c.exchange(ctx, m, "tcp", true)
	if r == nil {
		if err == nil {
			err = fmt.Errorf("no answer")
		}
		return fmt.Errorf("update to %s for zone %s failed after %d attempt(s): %w", c.server(), z, attempts, err)
	}
	return c.explain("update", r, attempts, err, signedAt)
}

// checkIn refuses deletions outside zone z (msg's check, without building).
func (u Update) checkIn(z string) error {
	_, err := u.msg(z)
	return err
}
