package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the lock test re-execute this binary as a lock holder.
func TestMain(m *testing.M) {
	if dir := os.Getenv("EXRB_LOCK_HELPER_DIR"); dir != "" {
		if _, err := Acquire(dir, "run"); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute) // killed by the test
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func sample(attempts int) *File {
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &File{Version: Version, Runbook: "split-namespace", RunbookHash: "rb", ConfigHash: "cf",
		CreatedAt: t, UpdatedAt: t, Steps: []Step{
			{ID: "certificate", Status: "done", Snapshot: json.RawMessage(`{"thumb":null}`), Attempts: attempts,
				Outputs: map[string]json.RawMessage{"applied_at": json.RawMessage(`"2026-03-01T12:00:00Z"`)}},
			{ID: "external-urls", Status: "pending"},
		}}
}

func TestSaveAtomicWithBackup(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, sample(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, BackupFile)); !os.IsNotExist(err) {
		t.Errorf("a backup exists after the first save: %v", err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if err := Save(dir, sample(2)); err != nil {
		t.Fatal(err)
	}
	bak, err := os.ReadFile(filepath.Join(dir, BackupFile))
	if err != nil || !bytes.Equal(bak, first) {
		t.Errorf("backup is not the previous state: %v\n%s", err, bak)
	}
	got, err := Load(dir)
	var snap bytes.Buffer
	if err == nil {
		json.Compact(&snap, got.Steps[0].Snapshot)
	}
	if err != nil || got.Steps[0].Attempts != 2 || snap.String() != `{"thumb":null}` {
		t.Fatalf("Load: %+v %v", got, err)
	}
	for _, n := range []string{StateFile, BackupFile} {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v %v", n, fi.Mode(), err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("temp files left: %v", names)
	}
	// A corrupt current file is not kept as the backup.
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{garbage"), 0o600)
	if err := Save(dir, sample(3)); err != nil {
		t.Fatal(err)
	}
	bak2, _ := os.ReadFile(filepath.Join(dir, BackupFile))
	if !bytes.Equal(bak2, bak) {
		t.Error("a corrupt state replaced the good backup")
	}
}

func TestLoadMissing(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "nope"))
	if f != nil || err != nil {
		t.Errorf("Load of a missing state: %v %v", f, err)
	}
}

func TestLoadCorrupt(t *testing.T) {
	good, _ := json.Marshal(sample(1))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"truncated", string(good[:len(good)/2]), "truncated"},
		{"empty", "", "empty"},
		{"garbage", "not json at all", "invalid JSON"},
		{"no version", `{"runbook":"x","steps":[]}`, `no "version"`},
		{"unknown field", `{"version":1,"runbook":"x","steps":[],"surprise":true}`, "surprise"},
		{"duplicate step", `{"version":1,"steps":[{"id":"a","status":"done","attempts":0},{"id":"a","status":"done","attempts":0}]}`, "twice"},
		{"trailing data", string(good) + `{}`, "trailing"},
		{"unknown status", `{"version":1,"steps":[{"id":"a","status":"exploded","attempts":0}]}`, "unknown status"},
	} {
		for _, withBackup := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				if withBackup {
					os.WriteFile(filepath.Join(dir, BackupFile), good, 0o600)
				}
				p := filepath.Join(dir, StateFile)
				os.WriteFile(p, []byte(tc.content), 0o600)
				f, err := Load(dir)
				var ce *CorruptError
				if f != nil || !errors.As(err, &ce) {
					t.Fatalf("Load: %v, %v", f, err)
				}
				msg := err.Error()
				if ce.Path != p || !strings.Contains(msg, p) || !strings.Contains(msg, tc.want) {
					t.Errorf("message %q lacks the path or %q", msg, tc.want)
				}
				if withBackup != ce.BackupOK {
					t.Errorf("BackupOK = %v", ce.BackupOK)
				}
				if withBackup && !strings.Contains(msg, "cp "+filepath.Join(dir, BackupFile)+" "+p) {
					t.Errorf("message does not say how to restore: %q", msg)
				}
				if b, _ := os.ReadFile(p); string(b) != tc.content {
					t.Error("the corrupt file was changed")
				}
			})
		}
	}
}

func TestLoadFutureVersion(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"version":7,"whatever":[]}`), 0o600)
	_, err := Load(dir)
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Version != 7 || !strings.Contains(err.Error(), "version 7") {
		t.Errorf("error %v", err)
	}
}

func TestCheckHashes(t *testing.T) {
	f := sample(0)
	for _, tc := range []struct{ rb, cf, what string }{
		{"rb", "cf", ""},
		{"rb2", "cf", "runbook"},
		{"rb", "cf2", "config"},
		{"rb2", "cf2", "runbook and config"},
	} {
		ce := CheckHashes("/s", f, tc.rb, tc.cf)
		if tc.what == "" {
			if ce != nil {
				t.Errorf("%+v: unexpected %v", tc, ce)
			}
			continue
		}
		if ce == nil || ce.What != tc.what || !strings.Contains(ce.Error(), "the "+tc.what+" changed") {
			t.Errorf("%+v: %v", tc, ce)
		}
	}
}

func TestJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 13, 0, 0, 5, time.FixedZone("CET", 3600))
	if err := j.Append(Entry{Time: at, Kind: "status", Step: "dns", Details: map[string]string{"from": "pending", "to": "running"}}); err != nil {
		t.Fatal(err)
	}
	j.Append(Entry{Kind: "open"})
	j.Close()
	if err := j.Append(Entry{Kind: "late"}); err == nil {
		t.Error("append after close succeeded")
	}
	p := filepath.Join(dir, JournalFile)
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	// A line torn by a kill is terminated on the next open.
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-03-01T12:00:00Z","us`)
	f.Close()
	j, err = OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.Append(Entry{Kind: "after"})
	j.Close()
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), b)
	}
	var e0 map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &e0); err != nil {
		t.Fatal(err)
	}
	if e0["time"] != "2026-03-01T12:00:00.000000005Z" || e0["user"] == "" || e0["host"] == "" || e0["pid"] == nil ||
		e0["kind"] != "status" || e0["step"] != "dns" {
		t.Errorf("entry %v", e0)
	}
	for i, want := range map[int]string{3: "journal_repaired", 4: "after"} {
		var e map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &e); err != nil || e["kind"] != want {
			t.Errorf("line %d: %q (%v)", i, lines[i], err)
		}
	}
}

func TestLockHeldAndReleased(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "run")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "rollback")
	var le *LockedError
	if !errors.As(err, &le) || le.Stale {
		t.Fatalf("second Acquire: %v", err)
	}
	holder := CurrentUser() + "@" + Hostname() + " pid " + itoa(os.Getpid())
	if msg := err.Error(); !strings.Contains(msg, holder) || !strings.Contains(msg, `"run"`) || !strings.Contains(msg, "since") {
		t.Errorf("message %q lacks holder %q or operation", msg, holder)
	}
	fi, _ := os.Stat(filepath.Join(dir, LockFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("lock mode %v", fi.Mode())
	}
	// A live lock is not removed without force.
	if _, err := Unlock(dir, false); !errors.As(err, &le) {
		t.Errorf("Unlock of a live lock: %v", err)
	}
	before := l.Info().RefreshedAt
	time.Sleep(2 * time.Millisecond)
	if err := l.Refresh(); err != nil {
		t.Fatal(err)
	}
	info, _ := ReadLock(dir)
	if !info.RefreshedAt.After(before) || !info.StartedAt.Equal(l.Info().StartedAt) {
		t.Errorf("refresh: %+v", info)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); !os.IsNotExist(err) {
		t.Error("lock not removed")
	}
	l2, err := Acquire(dir, "check")
	if err != nil {
		t.Fatal(err)
	}
	// Forced unlock reports what it removed; the old holder then neither
	// refreshes nor removes a lock that is no longer its own.
	removed, err := Unlock(dir, true)
	if err != nil || removed == nil || removed.Operation != "check" || removed.PID != os.Getpid() {
		t.Fatalf("Unlock(force): %+v %v", removed, err)
	}
	l3, err := Acquire(dir, "run")
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Refresh(); err == nil {
		t.Error("refresh of a lost lock succeeded")
	}
	l2.Release()
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Error("the old holder removed the new lock")
	}
	l3.Release()
	if info, err := Unlock(dir, false); info != nil || err != nil {
		t.Errorf("Unlock without a lock: %v %v", info, err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestLockStaleAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "EXRB_LOCK_HELPER_DIR="+dir)
	out, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		c.Process.Kill()
		t.Fatalf("helper: %q %v", buf, err)
	}
	pid := c.Process.Pid
	c.Process.Kill()
	c.Wait()

	_, err := Acquire(dir, "run")
	var le *LockedError
	if !errors.As(err, &le) || !le.Stale || le.Info.PID != pid {
		t.Fatalf("Acquire over a dead holder: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "exrunbook unlock") || !strings.Contains(msg, "not running") {
		t.Errorf("message %q", msg)
	}
	removed, err := Unlock(dir, false)
	if err != nil || removed == nil || removed.PID != pid {
		t.Fatalf("Unlock of a stale lock: %+v %v", removed, err)
	}
	l, err := Acquire(dir, "run")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

func TestIsStale(t *testing.T) {
	now := time.Now()
	live := LockInfo{PID: os.Getpid(), Host: Hostname(), RefreshedAt: now}
	for _, tc := range []struct {
		name  string
		info  LockInfo
		stale bool
		why   string
	}{
		{"live", live, false, ""},
		{"not refreshed", LockInfo{PID: os.Getpid(), Host: Hostname(), RefreshedAt: now.Add(-11 * time.Minute)}, true, "last refreshed"},
		{"other host, fresh", LockInfo{PID: 999999999, Host: "elsewhere", RefreshedAt: now}, false, ""},
		{"other host, old", LockInfo{PID: 1, Host: "elsewhere", RefreshedAt: now.Add(-time.Hour)}, true, "last refreshed"},
		{"dead pid here", LockInfo{PID: 999999999, Host: Hostname(), RefreshedAt: now}, true, "not running"},
	} {
		stale, why := IsStale(tc.info, now)
		if stale != tc.stale || !strings.Contains(why, tc.why) {
			t.Errorf("%s: %v %q", tc.name, stale, why)
		}
	}
}

func TestUnlockUnreadable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, LockFile)
	os.WriteFile(p, []byte("{not json"), 0o600)
	if _, err := Unlock(dir, false); err == nil {
		t.Error("a fresh unreadable lock was removed without force")
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	if _, err := Unlock(dir, false); err != nil {
		t.Errorf("an old unreadable lock: %v", err)
	}
	os.WriteFile(p, []byte("{not json"), 0o600)
	if _, err := Unlock(dir, true); err != nil {
		t.Errorf("forced: %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("still there")
	}
}

func FuzzParse(f *testing.F) {
	good, _ := json.Marshal(sample(1))
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"steps":[{"id":""}]}`))
	f.Add([]byte(``))
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parse("state.json", b)
		if err != nil {
			if st != nil {
				t.Fatal("state with an error")
			}
			return
		}
		dir := t.TempDir()
		if err := Save(dir, st); err != nil {
			t.Fatal(err)
		}
		again, err := Load(dir)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		b1, _ := json.Marshal(st)
		b2, _ := json.Marshal(again)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed the state:\n%s\n%s", b1, b2)
		}
	})
}

func TestLockRefresher(t *testing.T) {
	old := refreshEvery
	refreshEvery = 5 * time.Millisecond
	defer func() { refreshEvery = old }()
	dir := t.TempDir()
	l, err := Acquire(dir, "run")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := ReadLock(dir)
	deadline := time.Now().Add(5 * time.Second)
	for {
		cur, err := ReadLock(dir)
		if err == nil && cur.RefreshedAt.After(first.RefreshedAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock was not refreshed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if l.Lost() != nil {
		t.Fatalf("lost: %v", l.Lost())
	}
	// Someone removes the lock (unlock --force): the refresher notices.
	// (Removed again each time: without RENAME_EXCHANGE a refresh in
	// flight may rewrite it.)
	for l.Lost() == nil {
		if time.Now().After(deadline) {
			t.Fatal("lost lock not noticed")
		}
		os.Remove(filepath.Join(dir, LockFile))
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(l.Lost().Error(), "lock lost") {
		t.Errorf("lost: %v", l.Lost())
	}
	l.Release()
}

func TestRefreshKeepsAnotherHoldersLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "run")
	if err != nil {
		t.Fatal(err)
	}
	// The lock is forced away and taken by someone else.
	other := LockInfo{PID: 1, Host: "elsewhere", User: "bob", Operation: "rollback", StartedAt: time.Now().UTC(), RefreshedAt: time.Now().UTC()}
	b, _ := json.Marshal(other)
	if err := WriteFileAtomic(filepath.Join(dir, LockFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	err = l.Refresh()
	if err == nil || !strings.Contains(err.Error(), "bob@elsewhere") {
		t.Fatalf("Refresh over another holder: %v", err)
	}
	cur, err := ReadLock(dir)
	if err != nil || cur.User != "bob" || cur.Operation != "rollback" {
		t.Errorf("the other holder's lock was changed: %+v %v", cur, err)
	}
	l.Release()
	if cur, _ := ReadLock(dir); cur == nil || cur.User != "bob" {
		t.Error("Release removed the other holder's lock")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temp files left: %d entries", len(ents))
	}
}
