// Package exchange implements the lab's Exchange Management Shell cmdlets
// (every cmdlet documented in exchange/cmdlets.json) over the simulated
// organisation of package org, and registers them with the lab's
// PowerShell interpreter behind the Exchange snap-in.
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
