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
// object per line, opened with O_APPEND and mode 0600. It is safe for
// concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	user string
	host string
	pid  int
}

// OpenJournal opens (creating if needed) dir/journal.jsonl for appending.
func OpenJournal(dir string) (*Journal, error) {
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{f: f, user: CurrentUser(), host: Hostname(), pid: os.Getpid()}, nil
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
