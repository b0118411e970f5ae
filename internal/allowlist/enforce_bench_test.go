package allowlist_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// BenchmarkEnforce measures `exrunbook enforce` against the lab, side by
// side with the naive baseline (one script per run that sets both flags
// on every mailbox outside the group, "today's script", one Set-CASMailbox
// per mailbox through the same endpoint), for 1,000,
// 10,000 and 100,000 mailboxes with about 1% in the allow group, in three
// cases: steady (nothing changed since the last run), first (every
// mailbox open: everything outside the group changes) and churn (1% of
// the mailboxes changed since the last run).
//
// Figures per case (b.ReportMetric): launches, winrm-reqs, writes,
// sim-s (simulated Exchange seconds, the lab's cost model), sim/min (sim-s
// over the least a run can cost: one session open, the necessary read
// pipelines and rows, the writes needed in pipelines of 1,000),
// sim-wall-s (the simulated time a client waits: pipelines of one session
// overlap), sessions, pipelines, wall-ms (the orchestrator's wall time, the lab's
// own work included) and, for exrunbook, cpu-ms (the enforce process's
// own CPU time) and peak-rss-MB (its maximum resident set): it runs as a
// subprocess built from ./cmd/exrunbook so that the in-process lab is not
// counted.
//
//	go test -run XXX -bench Enforce -benchtime 1x ./internal/allowlist
//
// EXRUNBOOK_BENCH_SIZES=1000,10000 limits the sizes;
// EXRUNBOOK_BENCH_IMPLS=exrunbook leaves the baseline and the first run
// with exchange.concurrency 1 (exrunbook-c1) out;
// EXRUNBOOK_BENCH_CASES=steady,churn leaves the first run out.
func BenchmarkEnforce(b *testing.B) {
	sizes := []int{1000, 10000, 100000}
	if s := os.Getenv("EXRUNBOOK_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 100 {
				b.Fatalf("EXRUNBOOK_BENCH_SIZES: %q", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, v := range []string{"EXRUNBOOK_EXCHANGE_PASSWORD", "EXRUNBOOK_MAILBOXES_ALLOW_GROUP"} {
		if os.Getenv(v) != "" {
			b.Skipf("%s is set in the environment", v)
		}
	}
	impls := []string{"exrunbook", "exrunbook-c1", "naive"}
	if s := os.Getenv("EXRUNBOOK_BENCH_IMPLS"); s != "" {
		impls = strings.Split(s, ",")
	}
	cases := []string{"steady", "first", "churn"}
	if s := os.Getenv("EXRUNBOOK_BENCH_CASES"); s != "" {
		cases = strings.Split(s, ",")
	}
	bin := buildExrunbook(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("mailboxes=%d", n), func(b *testing.B) {
			bl := startBenchLab(b, n)
			for _, cs := range cases {
				for _, impl := range impls {
					if impl == "exrunbook-c1" && cs != "first" {
						continue // concurrency matters only when there is much to write
					}
					b.Run(cs+"/"+impl, func(b *testing.B) { bl.run(b, bin, cs, impl) })
				}
			}
		})
	}
}

// buildExrunbook builds ./cmd/exrunbook into a temporary directory.
func buildExrunbook(b *testing.B) string {
	b.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "exrunbook")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/exrunbook")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/exrunbook: %v\n%s", err, out)
	}
	return bin
}

type benchLab struct {
	l      *lab.Lab
	config string
	group  string
	allow  map[uuid.UUID]bool
	total  int // every mailbox
	users  int // UserMailbox mailboxes: the rows enforce reads
	groups int // groups expanded: the allow group and every nested one
	// configC1 is the configuration with exchange.concurrency 1.
	configC1 string
	dial     func() *exchange.Session
}

func startBenchLab(b *testing.B, n int) *benchLab {
	b.Helper()
	dir := b.TempDir()
	// Allow direct members; the nested groups add about half as many again.
	l, err := lab.Start(context.Background(), lab.Options{Dir: dir, Mailboxes: n, Allow: max(2, n/150), Servers: 2, Seed: 1,
		Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	ep := l.Endpoints()
	pw, err := os.ReadFile(ep.Admin.PasswordFile)
	if err != nil {
		b.Fatal(err)
	}
	dial := func() *exchange.Session {
		return exchange.NewSession(exchange.WSManDialer(wsman.Config{Endpoint: ep.PowerShell.HTTP, Auth: wsman.AuthNTLM, User: ep.Admin.User,
			Password: strings.TrimSpace(string(pw))}, 1))
	}
	bl := &benchLab{l: l, config: filepath.Join(dir, lab.FileConfig), group: ep.AllowGroup, allow: map[uuid.UUID]bool{}, dial: dial}
	cfg, err := os.ReadFile(bl.config)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Contains(cfg, []byte("concurrency: 4")) {
		b.Fatal("the lab configuration sets no exchange.concurrency 4")
	}
	bl.configC1 = filepath.Join(dir, "exrunbook-c1.yaml")
	if err := os.WriteFile(bl.configC1, bytes.Replace(cfg, []byte("concurrency: 4"), []byte("concurrency: 1"), 1), 0o600); err != nil {
		b.Fatal(err)
	}
	l.Store().Read(func(o *org.Org) {
		g, err := o.FindGroup(bl.group)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range o.ExpandGroup(g) {
			bl.allow[m.Guid] = true
		}
		seen := map[uuid.UUID]bool{}
		var walk func(*org.Group)
		walk = func(g *org.Group) {
			if seen[g.Guid] {
				return
			}
			seen[g.Guid] = true
			for _, id := range g.Members {
				if ng, ok := o.RecipientByGuid(id).(*org.Group); ok {
					walk(ng)
				}
			}
		}
		walk(g)
		bl.groups = len(seen)
		bl.total = len(o.Mailboxes)
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails == org.UserMailbox {
				bl.users++
			}
		}
	})
	b.Logf("%d mailboxes, %d allowed (%.1f%%)", bl.total, len(bl.allow), 100*float64(len(bl.allow))/float64(bl.total))
	return bl
}

// prepare sets the flags for a case, directly in the lab's store, and
// returns how many mailboxes enforce must write.
func (bl *benchLab) prepare(b *testing.B, cs string) int {
	b.Helper()
	need := 0
	err := bl.l.Store().Update(func(o *org.Org) error {
		k := 0
		for _, m := range o.Mailboxes {
			blocked := !bl.allow[m.Guid]
			if m.RecipientTypeDetails != org.UserMailbox {
				blocked = false // enforce manages the configured types only
			}
			switch cs {
			case "first":
				if blocked {
					need++
				}
				blocked = false
			case "churn":
				// 1% of the mailboxes changed since the last run: new
				// mailboxes (open) and people who joined the group.
				if m.RecipientTypeDetails == org.UserMailbox {
					if k%100 == 0 {
						blocked = !blocked
						need++
					}
					k++
				}
			}
			m.MAPIBlockOutlookRpcHttp, m.MAPIBlockOutlookExternalConnectivity = blocked, blocked
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return need
}

func (bl *benchLab) run(b *testing.B, bin, cs, impl string) {
	var sum labstats.Stats
	var wall time.Duration
	var rss int64
	var cpu time.Duration
	need := 0
	stateDir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		need = bl.prepare(b, cs)
		bl.l.Counters().Reset()
		b.StartTimer()
		start := time.Now()
		switch impl {
		case "exrunbook", "exrunbook-c1":
			config := bl.config
			if impl == "exrunbook-c1" {
				config = bl.configC1
			}
			cmd := exec.Command(bin, "--config", config, "--state-dir", stateDir, "enforce", "--max-changes", "100000000", "--output", "json")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			hwm := watchHWM(cmd.Process.Pid)
			err := cmd.Wait()
			rss = max(rss, hwm())
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if err != nil {
				b.Fatalf("enforce: %v\n%s", err, errb.String())
			}
		case "naive":
			// A session of its own, as an administrator's shell: its
			// open is counted as enforce's is.
			sess := bl.dial()
			err := naive(context.Background(), sess, bl.group)
			_ = sess.Close(context.Background())
			if err != nil {
				b.Fatalf("the seed's approach: %v", err)
			}
		}
		wall += time.Since(start)
		b.StopTimer()
		st := bl.l.Stats()
		if impl != "naive" && int(st.MailboxWrites) != need {
			b.Fatalf("%s: enforce wrote %d mailboxes, %d needed", cs, st.MailboxWrites, need)
		}
		sum.PowerShellLaunches += st.PowerShellLaunches
		sum.PSRPPools += st.PSRPPools
		sum.Pipelines += st.Pipelines
		sum.WinRMRequests += st.WinRMRequests
		sum.MailboxWrites += st.MailboxWrites
		sum.SimulatedSeconds += st.SimulatedSeconds
		sum.SimulatedElapsedSeconds += st.SimulatedElapsedSeconds
		sum.Cost = st.Cost
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	c := sum.Cost
	// The least a run can cost: one session open, the reads it cannot do
	// without (Set-ADServerSettings, the group by name, one member list per
	// group, one Get-CASMailbox of the managed type and its rows) and the
	// writes it needs, in pipelines of exchange.MaxFlagBatch.
	readPipelines := 1 + 1 + bl.groups + 1
	writePipelines := (need + exchange.MaxFlagBatch - 1) / exchange.MaxFlagBatch
	minimum := c.PowerShellLaunch + float64(readPipelines+writePipelines)*c.Pipeline +
		float64(bl.users)*c.GetCASMailboxRow + float64(need)*c.SetCASMailbox
	b.ReportMetric(float64(sum.PowerShellLaunches)/n, "launches")
	b.ReportMetric(float64(sum.PSRPPools)/n, "sessions")
	b.ReportMetric(float64(sum.Pipelines)/n, "pipelines")
	b.ReportMetric(float64(sum.WinRMRequests)/n, "winrm-reqs")
	b.ReportMetric(float64(sum.MailboxWrites)/n, "writes")
	b.ReportMetric(sum.SimulatedSeconds/n, "sim-s")
	b.ReportMetric(sum.SimulatedSeconds/n/minimum, "sim/min")
	b.ReportMetric(sum.SimulatedElapsedSeconds/n, "sim-wall-s")
	b.ReportMetric(float64(wall.Milliseconds())/n, "wall-ms")
	if impl != "naive" {
		b.ReportMetric(float64(rss)/1024, "peak-rss-MB")
		b.ReportMetric(float64(cpu.Milliseconds())/n, "cpu-ms")
	}
}

// watchHWM samples the process's VmHWM (its peak resident set, in KiB)
// from /proc every few milliseconds until the returned function is
// called after Wait. The rusage of the child is no use here: Go starts it
// with vfork semantics, so its ru_maxrss starts at this process's
// resident set, the in-process lab included.
func watchHWM(pid int) func() int64 {
	stop := make(chan struct{})
	done := make(chan int64)
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		var peak int64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
							peak = max(peak, n)
						}
					}
				}
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(stop); return <-done }
}

// naive is the seed script's approach as an administrator runs it in the
// Exchange Management Shell, through the same endpoint: expand the group
// (recursively, one Get-DistributionGroupMember per group), read every
// CAS mailbox, then one Set-CASMailbox per mailbox outside the group,
// every run, whatever its flags already are.
func naive(ctx context.Context, s *exchange.Session, group string) error {
	run := func(cmds ...psrp.Command) ([]psrp.Value, error) {
		res, err := s.Run(ctx, psrp.Pipeline{Commands: cmds}, nil)
		if err == nil && len(res.Errors) > 0 {
			err = res.Errors[0]
		}
		if err != nil {
			return nil, err
		}
		return res.Output, nil
	}
	sel := func(props ...psrp.Value) psrp.Command {
		return psrp.Command{Name: "Select-Object", Params: []psrp.Parameter{{Name: "Property", Value: psrp.NewList(props...)}}}
	}
	prop := func(v psrp.Value, name string) string {
		o, _ := v.(*psrp.Object)
		p, _ := o.Get(name)
		return fmt.Sprint(p)
	}
	allow, seen := map[string]bool{}, map[string]bool{}
	level := []string{group}
	for len(level) > 0 {
		var next []string
		for _, g := range level {
			out, err := run(psrp.Command{Name: "Get-DistributionGroupMember", Params: []psrp.Parameter{{Name: "Identity", Value: g}, {Name: "ResultSize", Value: "Unlimited"}}},
				sel("Guid", "RecipientType"))
			if err != nil {
				return err
			}
			for _, m := range out {
				id := prop(m, "Guid")
				if t := prop(m, "RecipientType"); strings.HasPrefix(t, "Mail") && strings.HasSuffix(t, "Group") {
					if !seen[id] {
						seen[id] = true
						next = append(next, id)
					}
				} else {
					allow[id] = true
				}
			}
		}
		level = next
	}
	out, err := run(psrp.Command{Name: "Get-CASMailbox", Params: []psrp.Parameter{{Name: "ResultSize", Value: "Unlimited"}}}, sel("Guid"))
	if err != nil {
		return err
	}
	for _, c := range out {
		id := prop(c, "Guid")
		if allow[id] {
			continue
		}
		if _, err := run(psrp.Command{Name: "Set-CASMailbox", Params: []psrp.Parameter{{Name: "Identity", Value: id},
			{Name: "MAPIBlockOutlookRpcHttp", Value: true}, {Name: "MAPIBlockOutlookExternalConnectivity", Value: true}}}); err != nil {
			return err
		}
	}
	return nil
}
