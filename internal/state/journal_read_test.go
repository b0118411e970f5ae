package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadJournal(t *testing.T) {
	for _, c := range []struct {
		name    string
		journal string
		want    []string // kind/step/details of each record
		wantErr string
	}{
		{name: "empty"},
		{
			name: "entries in order, details kept as written",
			journal: `{"time":"2026-11-22T13:00:00Z","user":"u","host":"h","pid":7,"kind":"lock","details":{"op":"run"}}
{"time":"2026-11-22T13:00:01Z","user":"u","host":"h","pid":7,"kind":"step_started","step":"certificate"}
`,
			want: []string{`lock//{"op":"run"}`, `step_started/certificate/`},
		},
		{
			name: "a torn line, a line that is no object and one with no kind are skipped",
			journal: `{"time":"2026-11-22T13:00:00Z","us
not json
3
null
{"time":"2026-11-22T13:00:00Z","step":"dns"}
{"time":"2026-11-22T13:00:02Z","kind":"failed","step":"dns","details":{"error":"boom"}}
`,
			want: []string{`failed/dns/{"error":"boom"}`},
		},
		{
			name:    "a last line with no newline is read",
			journal: `{"kind":"journal_repaired"}`,
			want:    []string{`journal_repaired//`},
		},
		{
			name:    "a line over the limit ends the read",
			journal: `{"kind":"open"}` + "\n" + `{"kind":"x","details":"` + strings.Repeat("a", maxJournalLine) + `"}` + "\n",
			want:    []string{`open//`},
			wantErr: "after line 1",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, JournalFile), []byte(c.journal), 0o600); err != nil {
				t.Fatal(err)
			}
			var got []string
			err := ReadJournal(dir, func(r Record) error {
				got = append(got, r.Kind+"/"+r.Step+"/"+string(r.Details))
				return nil
			})
			if c.wantErr == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestReadJournalFields(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 13, 0, 0, 5, time.UTC)
	if err := j.Append(Entry{Time: at, Kind: "status", Step: "dns", Details: map[string]string{"to": "running"}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	var got []Record
	if err := ReadJournal(dir, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d records", len(got))
	}
	r := got[0]
	if !r.Time.Equal(at) || r.User != CurrentUser() || r.Host != Hostname() || r.PID != os.Getpid() ||
		r.Kind != "status" || r.Step != "dns" || string(r.Details) != `{"to":"running"}` {
		t.Errorf("record %+v", r)
	}
}

func TestReadJournalStopsAtCallerError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, JournalFile), []byte("{\"kind\":\"a\"}\n{\"kind\":\"b\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	n := 0
	err := ReadJournal(dir, func(Record) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("err %v after %d records, want the caller's error after 1", err, n)
	}
}

func TestReadJournalMissing(t *testing.T) {
	err := ReadJournal(t.TempDir(), func(Record) error { t.Error("called"); return nil })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v, want fs.ErrNotExist", err)
	}
}
