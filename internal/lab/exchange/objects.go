package exchange

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// outputOrder maps cmdlet name → property name (lower case) → rank in
// Exchange's documented output order.
var outputOrder = func() map[string]map[string]int {
	m := map[string]map[string]int{}
	for _, c := range cmdletTable {
		r := map[string]int{}
		for i, p := range c.Output {
			r[strings.ToLower(p)] = i
		}
		m[c.Name] = r
	}
	return m
}()

// newObject builds a PSObject whose properties follow the documented
// output order of cmdlet; properties the documentation does not list come
// after, in the order given. kv alternates names and values.
func newObject(cmdlet, typeName string, kv ...any) *pwsh.Object {
	type pair struct {
		name string
		v    any
		rank int
	}
	order := outputOrder[cmdlet]
	pairs := make([]pair, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		rank, ok := order[strings.ToLower(name)]
		if !ok {
			rank = len(order) + i
		}
		pairs = append(pairs, pair{name, kv[i+1], rank})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].rank < pairs[j].rank })
	o := pwsh.NewObject(typeName)
	for _, p := range pairs {
		o.Set(p.name, p.v)
	}
	return o
}

// shape caches the property order of an object builder whose property
// names never vary (the hot per-mailbox builders), so that streaming
// 100,000 objects does not sort 100,000 times.
type shape struct {
	once sync.Once
	perm []int // indexes into the kv pairs, in output order
}

// newShapedObject is newObject for a builder with a fixed name sequence.
func newShapedObject(sh *shape, cmdlet, typeName string, kv ...any) *pwsh.Object {
	sh.once.Do(func() {
		order := outputOrder[cmdlet]
		n := len(kv) / 2
		sh.perm = make([]int, n)
		ranks := make([]int, n)
		for i := 0; i < n; i++ {
			sh.perm[i] = i
			r, ok := order[strings.ToLower(kv[2*i].(string))]
			if !ok {
				r = len(order) + i
			}
			ranks[i] = r
		}
		sort.SliceStable(sh.perm, func(a, b int) bool { return ranks[sh.perm[a]] < ranks[sh.perm[b]] })
	})
	o := pwsh.NewObject(typeName)
	for _, i := range sh.perm {
		o.Set(kv[2*i].(string), kv[2*i+1])
	}
	return o
}

const exchangeVersion = "0.20 (15.0.0.0)"

func configDN(o *org.Org, rest string) string {
	dc := "DC=" + strings.Join(strings.Split(o.Domain, "."), ",DC=")
	return rest + ",CN=" + org.EscapeRDN(o.Name) + ",CN=Microsoft Exchange,CN=Services,CN=Configuration," + dc
}

func serverDN(o *org.Org, server string) string {
	return configDN(o, "CN="+server+",CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups")
}

func changed(when, created time.Time) time.Time {
	if when.IsZero() {
		return created
	}
	return when
}

func serverObject(o *org.Org, s *org.Server) *pwsh.Object {
	const c = "Get-ExchangeServer"
	// An Edge Transport server has the Edge role alone; a Mailbox server
	// (2016/2019) runs client access and transport too.
	edge := s.IsEdge()
	full := !edge
	dataPath := `C:\Program Files\Microsoft\Exchange Server\V15\Mailbox`
	if edge {
		dataPath = `C:\Program Files\Microsoft\Exchange Server\V15\TransportRoles\data`
	}
	return newObject(c, "Microsoft.Exchange.Data.Directory.Management.ExchangeServer",
		"Name", s.Name, "Fqdn", s.Fqdn, "Domain", o.Domain, "Edition", s.Edition, "ServerRole", s.ServerRole,
		"AdminDisplayVersion", s.AdminDisplayVersion, "Site", s.Site,
		"IsClientAccessServer", full, "IsMailboxServer", full, "IsHubTransportServer", full,
		"IsFrontendTransportServer", full, "IsEdgeServer", edge, "IsUnifiedMessagingServer", false,
		"IsE14OrLater", true, "IsE15OrLater", true, "IsExchange2007OrLater", true,
		"ExchangeLegacyDN", "/o="+o.Name+"/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn="+s.Name,
		"DataPath", dataPath,
		"ExchangeVersion", exchangeVersion, "Identity", s.Name, "DistinguishedName", serverDN(o, s.Name),
		"Guid", guidV(s.Guid), "WhenCreated", s.WhenCreated, "WhenChanged", s.WhenCreated,
		"IsExchangeTrialEdition", false, "IsExpiredExchangeTrialEdition", false)
}
