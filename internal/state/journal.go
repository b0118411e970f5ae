package state

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"time"
)

// Entry is one line of journal.jsonl.
type Entry struct {
	Time    time.Time `json:"time"` // RFC3339Nano, UTC
	User    string    `json:"user"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Kind    string    `json:"kind"`
	Step    string    `json:"step,omitempty"`
	Details any       `json:"details,omitempty"`
}

// Journal is the append-only audit journal, journal.jsonl: one JSON
// object per line, opened with O_APPEND and mode 0600. Each entry is one
// write call; a process killed during that write can leave a partial
// line, which the next OpenJournal terminates and records with a
// "journal_repaired" entry, so readers skip lines that are not JSON. It is
// safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	user string
	host string
	pid  int
}

// OpenJournal opens (creating if needed) dir/journal.jsonl for appending.
func OpenJournal(dir string) (*Journal, error) {
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &Journal{f: f, user: CurrentUser(), host: Hostname(), pid: os.Getpid()}
	torn, err := endsTorn(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if torn {
		// A process killed in the middle of a write leaves a partial last
		// line. End it, so that it stays a line of its own (readers skip
		// lines that are not JSON), and say so.
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		if err := j.Append(Entry{Kind: "journal_repaired", Details: map[string]string{
			"reason": "the previous line was cut short by a crash and has been terminated"}}); err != nil {
			f.Close()
			return nil, err
		}
	}
	return j, nil
}

// endsTorn reports whether a non-empty file does not end with a newline.
func endsTorn(f *os.File) (bool, error) {
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("journal: %w", err)
	}
	if st.Size() == 0 {
		return false, nil
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil {
		return false, fmt.Errorf("journal: %w", err)
	}
	return b[0] != '\n', nil
}

// Append writes one entry as a single line with one write call, filling
// in user, host and pid. A zero Time is set to now.
func (j *Journal) Append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	e.User, e.Host, e.PID = j.user, j.host, j.pid
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: encode %s: %w", e.Kind, err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal: closed")
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Sync flushes the journal to stable storage.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	return j.f.Sync()
}

// Close syncs and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	j.f.Sync()
	err := j.f.Close()
	j.f = nil
	return err
}

// CurrentUser is the name of the user running the process.
func CurrentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid-%d", os.Getuid())
}

// Hostname is the host name, or "unknown-host".
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown-host"
	}
	return h
}
