// Package steps implements the runbook's step kinds on top of checks and
// the clients internal/clients builds from the configuration (the Exchange
// session, DNS, TLS and Autodiscover probes), which reach steps through
// Deps. Each kind lives in its own file and registers a Factory under its
// kind name from init(); the runbooks package binds a runbook's steps to
// their kinds through the Registry.
package steps
