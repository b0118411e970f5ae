package state

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Record is one journal entry as read back: Entry's fields, with Details
// left as the JSON that was written, for the reader to decode into its own
// type.
type Record struct {
	Time    time.Time       `json:"time"`
	User    string          `json:"user"`
	Host    string          `json:"host"`
	PID     int             `json:"pid"`
	Kind    string          `json:"kind"`
	Step    string          `json:"step,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

// maxJournalLine bounds the memory one journal line may take when read
// back.
const maxJournalLine = 4 << 20

// ReadJournal calls fn with each entry of dir's journal.jsonl, oldest
// first. Lines that are not entries (a line cut short by a crash, which
// OpenJournal terminates; a JSON value with no kind) are skipped. An error
// from fn ends the read and is returned as it is. A missing journal is an
// error for which errors.Is(err, fs.ErrNotExist) holds; a line longer than
// 4 MiB ends the read with an error that says so.
func ReadJournal(dir string, fn func(Record) error) error {
	path := filepath.Join(dir, JournalFile)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), maxJournalLine)
	line := 0
	for sc.Scan() {
		line++
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Kind == "" {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal %s: after line %d: %w (a line may hold at most %d bytes)", path, line, err, maxJournalLine)
	}
	return nil
}
