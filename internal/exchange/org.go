package exchange

import "context"

// OrganizationConfig is the part of Get-OrganizationConfig the runbook uses.
type OrganizationConfig struct {
	MapiHttpEnabled bool `json:"MapiHttpEnabled"`
}

// GetOrganizationConfig reads the organisation's MapiHttpEnabled.
func (c *Client) GetOrganizationConfig(ctx context.Context) (OrganizationConfig, error) {
	const op = "GetOrganizationConfig"
	return c.getOrgConfig(ctx, op)
}

// SetMapiHttpEnabled sets the organisation's MapiHttpEnabled and checks
// the value read back.
func (c *Client) SetMapiHttpEnabled(ctx context.Context, enabled bool) error {
	const op = "SetMapiHttpEnabled"
	if _, err := c.runWrite(ctx, op, setOrgMapiPipeline(enabled)); err != nil {
		return err
	}
	r, err := c.getOrgConfig(ctx, op)
	if err != nil {
		return err
	}
	if r.MapiHttpEnabled != enabled {
		return badOutput(op, "MapiHttpEnabled reads %t after setting %t", r.MapiHttpEnabled, enabled)
	}
	return nil
}
