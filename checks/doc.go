// Package checks holds the pre- and post-checks of the world the steps
// run: DNS, TLS, SMTP, Autodiscover and Exchange state. Each check
// implements check.Check.
//
// # Where a check lives
//
// One rule decides whether a check belongs here or with its step:
//
//   - A check that judges a step's own snapshot or plan — what the step
//     captured before its first write (engine.Snapshot), such as "the
//     servers it read agree" or "the request covers the names of the
//     runbook" — lives with the step, in package steps, beside the code
//     that captures that snapshot. It needs the step's snapshot type and
//     means nothing without it.
//   - A check of the world — what DNS answers, what certificate a TLS
//     endpoint presents, what an SMTP server offers, what Autodiscover
//     returns, what state Exchange reports — lives here. It takes what it
//     checks (names, targets, expected values) as plain arguments, knows no
//     step's snapshot, and can serve any step that wants the world to be in
//     that state before or after it runs.
package checks
