package dnsupdate

import "strings"

// renamedError is err with its message naming another configuration
// block than public_dns; errors.Is and errors.As still see err.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }

// rename makes err's message name c.Setting's keys and environment
// variables where it names public_dns's (the messages of this package are
// written for public_dns, which most clients serve).
func (c *Client) rename(err error) error {
	if err == nil || c.Setting == "" || c.Setting == "public_dns" {
		return err
	}
	env := "EXRUNBOOK_" + strings.ToUpper(strings.ReplaceAll(c.Setting, ".", "_")) + "_"
	msg := strings.NewReplacer("public_dns.", c.Setting+".", "EXRUNBOOK_PUBLIC_DNS_", env).Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &renamedError{msg: msg, err: err}
}
