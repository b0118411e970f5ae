// Package checks holds the pre- and post-checks the steps run: DNS, TLS,
// Autodiscover and Exchange state. Each implements engine.Check.
package checks
