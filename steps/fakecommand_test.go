package steps

import (
	"strings"

	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// fakeGetCommand answers Get-Command -Name … as an account with every role
// would be answered: each cmdlet asked for, with every parameter the
// steps pass. ok is false for any other pipeline.
func fakeGetCommand(pl psrp.Pipeline) (*psrp.Result, bool) {
	c := pl.Commands[0]
	if c.Name != "Get-Command" {
		return nil, false
	}
	params := map[string]map[string]bool{}
	for _, needs := range exchange.StepNeeds {
		for _, n := range needs {
			if params[n.Cmdlet] == nil {
				params[n.Cmdlet] = map[string]bool{}
			}
			for _, p := range n.Params {
				params[n.Cmdlet][p] = true
			}
		}
	}
	res := &psrp.Result{}
	names, _ := c.Params[0].Value.(*psrp.Object)
	for _, it := range names.Items {
		name := it.(string)
		dict := &psrp.Object{Kind: psrp.DictContainer}
		for p := range params[name] {
			dict.Entries = append(dict.Entries, psrp.Entry{Key: p, Value: strings.ToLower(p)})
		}
		res.Output = append(res.Output, &psrp.Object{Extended: []psrp.Property{{Name: "Name", Value: name}, {Name: "Parameters", Value: dict}}})
	}
	return res, true
}
