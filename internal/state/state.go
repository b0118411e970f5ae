// Package state keeps a runbook run's persistent state in its state
// directory (--state-dir, default ./.exrunbook):
//
//   - state.json: the versioned state (one record per step: status,
//     snapshot, plan, check results, attempts, times, outputs). It is
//     written atomically — temp file in the same directory, fsync, rename,
//     fsync of the directory — with mode 0600, and the previous good copy
//     is kept as state.json.bak. A corrupt or truncated file is reported
//     (*CorruptError) and never silently reset; a newer format version is
//     refused (*VersionError).
//   - journal.jsonl: the append-only audit journal (see Journal; read it
//     back with ReadJournal).
//   - lock: who is running what (see Acquire and Unlock).
//
// The package knows nothing of steps or Exchange: plans and check results
// are stored as the JSON the engine hands it. It never stores
// configuration values, only the hashes the caller computed.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Version is the state file format this package reads and writes.
const Version = 1

// File names inside the state directory.
const (
	StateFile   = "state.json"
	BackupFile  = "state.json.bak"
	JournalFile = "journal.jsonl"
	LockFile    = "lock"
)

// File is the content of state.json.
type File struct {
	Version     int       `json:"version"`
	Runbook     string    `json:"runbook"`
	RunbookHash string    `json:"runbook_hash"`
	ConfigHash  string    `json:"config_hash"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Steps       []Step    `json:"steps"`
}

// Step is the persisted record of one step. The history of its
// transitions is in the journal, not here.
type Step struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Phase is where a running step was: "capture", "plan", "prechecks",
	// "approval", "apply", "postchecks" or "rollback". After a crash it
	// tells the engine whether Apply had already begun.
	Phase string `json:"phase,omitempty"`
	// Applied is true once Apply was called with the current snapshot.
	Applied    bool                       `json:"applied,omitempty"`
	Snapshot   json.RawMessage            `json:"snapshot,omitempty"`
	Plan       json.RawMessage            `json:"plan,omitempty"`
	PreChecks  json.RawMessage            `json:"pre_checks,omitempty"`
	PostChecks json.RawMessage            `json:"post_checks,omitempty"`
	Attempts   int                        `json:"attempts"`
	StartedAt  *time.Time                 `json:"started_at,omitempty"`
	FinishedAt *time.Time                 `json:"finished_at,omitempty"`
	LastError  string                     `json:"last_error,omitempty"`
	Outputs    map[string]json.RawMessage `json:"outputs,omitempty"`
	WaitUntil  *time.Time                 `json:"wait_until,omitempty"`
	WaitReason string                     `json:"wait_reason,omitempty"`
	// WaitOverridden is set when an operator ended the wait early; the
	// next wait the step asks for is then not honoured.
	WaitOverridden bool   `json:"wait_overridden,omitempty"`
	SkipReason     string `json:"skip_reason,omitempty"`
}

// Clone returns a deep copy of f.
func (f *File) Clone() *File {
	if f == nil {
		return nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		panic(fmt.Sprintf("state: marshal for clone: %v", err)) // only plain data: cannot fail
	}
	var c File
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("state: unmarshal for clone: %v", err))
	}
	return &c
}

// CorruptError reports a state file that cannot be read as state. It is
// never repaired automatically.
type CorruptError struct {
	Path      string
	Err       error
	BackupOK  bool   // a state.json.bak exists and parses
	BackupPth string // its path
}

func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("state file %s is corrupt: %v; it was left untouched", e.Path, e.Err)
	if e.BackupOK {
		msg += fmt.Sprintf("; the previous good copy is %s — inspect both, then restore it with: cp %s %s",
			e.BackupPth, e.BackupPth, e.Path)
	} else {
		msg += "; no usable backup (state.json.bak) exists — repair the file by hand or move the state directory away to start over"
	}
	return msg
}

func (e *CorruptError) Unwrap() error { return e.Err }

// VersionError reports a state file written by a newer (or unknown)
// format version.
type VersionError struct {
	Path    string
	Version int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("state file %s has format version %d, but this exrunbook understands version %d only; use the exrunbook release that wrote it",
		e.Path, e.Version, Version)
}

// knownStatus lists the step statuses a state file may hold (the
// engine's Status values).
var knownStatus = map[string]bool{"pending": true, "running": true, "done": true, "failed": true,
	"waiting": true, "skipped": true, "rolled_back": true}

// Load reads dir/state.json. It returns (nil, nil) when no state exists.
func Load(dir string) (*File, error) {
	p := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	f, err := parse(p, b)
	if err != nil {
		var ve *VersionError
		if errors.As(err, &ve) {
			return nil, err
		}
		ce := &CorruptError{Path: p, Err: err, BackupPth: filepath.Join(dir, BackupFile)}
		if bb, berr := os.ReadFile(ce.BackupPth); berr == nil {
			if _, perr := parse(ce.BackupPth, bb); perr == nil {
				ce.BackupOK = true
			}
		}
		return nil, ce
	}
	return f, nil
}

func parse(path string, b []byte) (*File, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("the file is empty")
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, describeJSONError(b, err)
	}
	if head.Version == nil {
		return nil, errors.New(`it has no "version" field`)
	}
	if *head.Version != Version {
		return nil, &VersionError{Path: path, Version: *head.Version}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, describeJSONError(b, err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON document")
	}
	seen := map[string]bool{}
	for i, s := range f.Steps {
		if s.ID == "" {
			return nil, fmt.Errorf("step #%d has no id", i+1)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("step %q appears twice", s.ID)
		}
		if !knownStatus[s.Status] {
			return nil, fmt.Errorf("step %q has an unknown status %q", s.ID, s.Status)
		}
		seen[s.ID] = true
	}
	return &f, nil
}

func describeJSONError(b []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset >= int64(len(b)) {
		return fmt.Errorf("truncated JSON: it ends after %d bytes in the middle of a value", len(b))
	}
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d of %d: %v", se.Offset, len(b), err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || err.Error() == "unexpected end of JSON input" {
		return fmt.Errorf("truncated JSON (%d bytes): %v", len(b), err)
	}
	return fmt.Errorf("invalid state: %v", err)
}

// Save writes f to dir/state.json atomically (mode 0600), keeping the
// current good state.json as state.json.bak first. The directory must
// exist. UpdatedAt is left as the caller set it.
func Save(dir string, f *File) error {
	if f.Version == 0 {
		f.Version = Version
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	b = append(b, '\n')
	p := filepath.Join(dir, StateFile)
	// Keep the previous copy if it is good: a hard link is atomic and
	// cheap; the rename below then leaves the .bak on the old contents.
	if old, err := os.ReadFile(p); err == nil {
		if goodCopy(p, old) {
			tmpBak := filepath.Join(dir, ".state.json.bak.tmp")
			_ = os.Remove(tmpBak)
			if err := os.Link(p, tmpBak); err != nil {
				return fmt.Errorf("keep backup: %w", err)
			}
			if err := os.Rename(tmpBak, filepath.Join(dir, BackupFile)); err != nil {
				return fmt.Errorf("keep backup: %w", err)
			}
		}
	}
	if err := WriteFileAtomic(p, b, 0o600); err != nil {
		return err
	}
	written.Lock()
	written.m[p] = b
	written.Unlock()
	return nil
}

// written remembers the bytes this process last wrote to each state file,
// so that a save need not parse the file it replaces to know it is good.
var written = struct {
	sync.Mutex
	m map[string][]byte
}{m: map[string][]byte{}}

// goodCopy reports whether b, the current content of the state file at p,
// is a good state: what this process wrote last, or a file that parses.
func goodCopy(p string, b []byte) bool {
	written.Lock()
	last := written.m[p]
	written.Unlock()
	if last != nil && bytes.Equal(last, b) {
		return true
	}
	_, err := parse(p, b)
	return err == nil
}

// WriteFileAtomic writes data to path through a temp file in the same
// directory: write, fsync, rename, fsync the directory.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return syncDir(dir)
}

// EnsureDir creates the state directory with mode 0700 if it is missing.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

// ChangedError refuses to resume with a runbook or config that differs
// from the one the state was created with.
type ChangedError struct {
	What                           string // "runbook", "config" or "runbook and config"
	Dir                            string
	OldRunbookHash, NewRunbookHash string
	OldConfigHash, NewConfigHash   string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("the %s changed since the run in %s began; refusing to resume with different settings",
		e.What, e.Dir)
}

// CheckHashes compares the stored hashes with the current ones and returns
// a *ChangedError naming what differs, or nil.
func CheckHashes(dir string, f *File, runbookHash, configHash string) *ChangedError {
	rb := f.RunbookHash != runbookHash
	cf := f.ConfigHash != configHash
	what := ""
	switch {
	case rb && cf:
		what = "runbook and config"
	case rb:
		what = "runbook"
	case cf:
		what = "config"
	default:
		return nil
	}
	return &ChangedError{What: what, Dir: dir,
		OldRunbookHash: f.RunbookHash, NewRunbookHash: runbookHash,
		OldConfigHash: f.ConfigHash, NewConfigHash: configHash}
}
