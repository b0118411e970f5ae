// Package steps implements the runbook's step kinds on top of checks,
// internal/exchange and internal/dnsupdate. Each kind lives in its own file
// and registers a Factory under its kind name from init(); the runbooks
// package binds a runbook's steps to their kinds through the Registry.
package steps
