// Package exchange implements the lab's Exchange Management Shell cmdlets
// (every cmdlet documented in cmdlets.json, beside this file) over the
// simulated organisation of package org, and registers them with the lab's
// PowerShell interpreter behind the Exchange snap-in:
//
//	exchange.Register(host, store, exchange.Options{Stats: stats, LocalServer: "EX01"})
//
// Parameters are bound from a table generated from cmdlets.json
// (params_gen.go; `go generate` rebuilds it), so an undocumented parameter
// fails as PowerShell fails. Parameters that change what the lab models
// are implemented; documented parameters that only touch settings the lab
// does not model (OWA feature switches, ActiveSync device lists, POP/IMAP
// timeouts, …) are accepted and have no effect.
//
// Behaviour follows Microsoft's cmdlet reference
// (MicrosoftDocs/office-docs-powershell) and the public scripts built on it:
// Exchange errors are non-terminating (scripts need -ErrorAction Stop to catch
// them); recipient queries stop at ResultSize (default 1000) with Exchange's
// warning; MAPIBlock* are not filterable; Get-DistributionGroupMember is not
// recursive; certificate services are additive while IIS and the default SMTP
// certificate are single bindings; a prompt (SMTP replacement without -Force,
// Remove-ExchangeCertificate without -Confirm:$false) fails as it does in a
// non-interactive session; a $null URL stays $null.
//
// Message texts quoted by Microsoft's cmdlet reference or public scripts, or
// well known from Exchange (not-found, ambiguous, ResultSize, PFX password,
// filterable property, OWA→ECP warning) are Exchange's; the texts of the lab's
// other validation errors (Set-MapiVirtualDirectory without
// IISAuthenticationMethods, certificate in use, …) are the lab's wording.
package exchange

// paramSpec is one documented parameter (generated from cmdlets.json).
type paramSpec struct {
	Name      string
	Type      string // the documented .NET type name, e.g. "MultiValuedProperty"
	Switch    bool
	Position  int // 0: named only
	Pipeline  bool
	Mandatory bool // mandatory in every parameter set
	Aliases   []string
}

// cmdletSpec is one documented cmdlet (generated from cmdlets.json).
type cmdletSpec struct {
	Name   string
	Params []paramSpec
	Output []string // output property names in Exchange's order and casing
}
