package exchange

import "context"

// OrganizationConfig is the part of Get-OrganizationConfig the runbook uses.
type OrganizationConfig struct {
	MapiHttpEnabled bool `json:"MapiHttpEnabled"`
}

func orgConfigScript() string {
	return scriptHeader +
		"$o = Get-OrganizationConfig\n" +
		"$r = [pscustomobject]@{ MapiHttpEnabled = [bool]$o.MapiHttpEnabled }\n" +
		jsonOut("$r", 2)
}

func setMapiHTTPScript(enabled bool) string {
	return scriptHeader +
		"Set-OrganizationConfig -MapiHttpEnabled " + psBool(enabled) + "\n" +
		"$o = Get-OrganizationConfig\n" +
		"$r = [pscustomobject]@{ MapiHttpEnabled = [bool]$o.MapiHttpEnabled }\n" +
		jsonOut("$r", 2)
}

// GetOrganizationConfig reads the organisation's MapiHttpEnabled.
func (c *Client) GetOrganizationConfig(ctx context.Context) (OrganizationConfig, error) {
	const op = "GetOrganizationConfig"
	if c.p != nil {
		return c.getOrgConfig(ctx, op)
	}
	out, err := c.run(ctx, op, orgConfigScript(), "")
	if err != nil {
		return OrganizationConfig{}, err
	}
	return decodeSingle[OrganizationConfig](op, out, req("MapiHttpEnabled"))
}

// SetMapiHttpEnabled sets the organisation's MapiHttpEnabled and checks
// the value read back.
func (c *Client) SetMapiHttpEnabled(ctx context.Context, enabled bool) error {
	const op = "SetMapiHttpEnabled"
	if c.p != nil {
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
	out, err := c.run(ctx, op, setMapiHTTPScript(enabled), "")
	if err != nil {
		return err
	}
	r, err := decodeSingle[OrganizationConfig](op, out, req("MapiHttpEnabled"))
	if err != nil {
		return err
	}
	if r.MapiHttpEnabled != enabled {
		return badOutput(op, "MapiHttpEnabled reads %t after setting %t", r.MapiHttpEnabled, enabled)
	}
	return nil
}
