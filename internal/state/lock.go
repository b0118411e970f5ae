package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Lock timing: a running holder rewrites the lock every RefreshInterval;
// a lock not refreshed for StaleAfter is stale.
const (
	RefreshInterval = 30 * time.Second
	StaleAfter      = 10 * time.Minute
)

// refreshEvery is the refresher's period (RefreshInterval; tests shorten it).
var refreshEvery = RefreshInterval

// LockInfo is the content of the lock file.
type LockInfo struct {
	PID         int       `json:"pid"`
	Host        string    `json:"host"`
	User        string    `json:"user"`
	Operation   string    `json:"operation"`
	StartedAt   time.Time `json:"started_at"`
	RefreshedAt time.Time `json:"refreshed_at"`
}

// Holder describes the holder as "user@host pid N".
func (l LockInfo) Holder() string {
	return fmt.Sprintf("%s@%s pid %d", l.User, l.Host, l.PID)
}

// LockedError reports that the state directory is locked. When Stale is
// true the holder is gone (StaleReason says why) but the lock is not taken
// over silently: the operator removes it with `exrunbook unlock`.
type LockedError struct {
	Path        string
	Info        LockInfo
	Stale       bool
	StaleReason string
}

func (e *LockedError) Error() string {
	if e.Stale {
		return fmt.Sprintf("state directory is locked by a stale lock %s (held by %s since %s, operation %q): %s; run `exrunbook unlock` to remove it",
			e.Path, e.Info.Holder(), e.Info.StartedAt.UTC().Format(time.RFC3339), e.Info.Operation, e.StaleReason)
	}
	return fmt.Sprintf("state directory is locked by %s since %s (operation %q, last refreshed %s); wait for it to finish",
		e.Info.Holder(), e.Info.StartedAt.UTC().Format(time.RFC3339), e.Info.Operation,
		e.Info.RefreshedAt.UTC().Format(time.RFC3339))
}

// Lock is a held lock. Its refresher rewrites the lock file every
// RefreshInterval until Release.
type Lock struct {
	path string
	info LockInfo
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
	lost error
}

// Acquire creates dir/lock for operation. The file is created complete and
// exclusively (written to a temp file, then hard-linked into place, which
// fails if a lock exists — like O_EXCL but never leaving a half-written
// lock). An existing lock, live or stale, yields *LockedError.
func Acquire(dir, operation string) (*Lock, error) {
	now := time.Now().UTC()
	info := LockInfo{PID: os.Getpid(), Host: Hostname(), User: CurrentUser(), Operation: operation,
		StartedAt: now, RefreshedAt: now}
	path := filepath.Join(dir, LockFile)
	b, _ := json.Marshal(info)
	tmpName, err := writeTemp(dir, ".lock.*.tmp", b)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	defer os.Remove(tmpName)
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, lockedError(path, time.Now())
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syncDir(dir); err != nil {
		os.Remove(path)
		return nil, err
	}
	l := &Lock{path: path, info: info, stop: make(chan struct{}), done: make(chan struct{})}
	go l.refresher()
	return l, nil
}

func lockedError(path string, now time.Time) error {
	info, err := ReadLock(filepath.Dir(path))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) { // released in between
			return &LockedError{Path: path, Info: LockInfo{}, Stale: false}
		}
		st, serr := os.Stat(path)
		le := &LockedError{Path: path}
		if serr == nil && now.Sub(st.ModTime()) > StaleAfter {
			le.Stale, le.StaleReason = true, fmt.Sprintf("the lock file is unreadable (%v) and older than %s", err, StaleAfter)
		} else {
			le.Info.User, le.Info.Host = "?", "?"
		}
		return le
	}
	stale, why := IsStale(*info, now)
	return &LockedError{Path: path, Info: *info, Stale: stale, StaleReason: why}
}

// ReadLock reads dir/lock.
func ReadLock(dir string) (*LockInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil {
		return nil, err
	}
	var info LockInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("lock file %s: %w", filepath.Join(dir, LockFile), err)
	}
	return &info, nil
}

// IsStale reports whether a lock is stale at now: its pid is dead on this
// host, or it has not been refreshed for StaleAfter. It says why.
func IsStale(info LockInfo, now time.Time) (bool, string) {
	if info.Host == Hostname() && info.PID > 0 && processGone(info.PID) {
		return true, fmt.Sprintf("process %d is not running on %s", info.PID, info.Host)
	}
	if age := now.Sub(info.RefreshedAt); age > StaleAfter {
		return true, fmt.Sprintf("it was last refreshed %s ago (at %s)", age.Round(time.Second),
			info.RefreshedAt.UTC().Format(time.RFC3339))
	}
	return false, ""
}

func (l *Lock) refresher() {
	defer close(l.done)
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Refresh(); err != nil {
				l.mu.Lock()
				l.lost = err
				l.mu.Unlock()
				return
			}
		}
	}
}

// Refresh rewrites the lock with a new refreshed_at, provided it is still
// ours (someone may have removed it with `unlock --force`, and another
// process may hold it now). On Linux the new lock is swapped in with
// renameat2(RENAME_EXCHANGE) and the swapped-out file checked: if it was
// not ours it is swapped back at once, so another holder's lock is never
// lost. Elsewhere (or where the filesystem lacks the exchange) the check
// and the rename are two steps, and a lock forced away and re-taken
// exactly in between would be overwritten once.
func (l *Lock) Refresh() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	dir := filepath.Dir(l.path)
	next := l.info
	next.RefreshedAt = time.Now().UTC()
	b, _ := json.Marshal(next)
	tmp, err := writeTemp(dir, ".lock.*.tmp", b)
	if err != nil {
		return fmt.Errorf("refresh lock: %w", err)
	}
	defer os.Remove(tmp)
	switch err := exchange(tmp, l.path); {
	case err == nil:
		prev, rerr := os.ReadFile(tmp)
		var old LockInfo
		if rerr == nil {
			rerr = json.Unmarshal(prev, &old)
		}
		if rerr != nil || !sameHolder(old, l.info) {
			if xerr := exchange(tmp, l.path); xerr != nil {
				return fmt.Errorf("lock lost, and restoring the other holder's lock failed: %w", xerr)
			}
			if rerr != nil {
				return fmt.Errorf("lock lost: the lock file was replaced by an unreadable one")
			}
			return fmt.Errorf("lock lost: now held by %s", old.Holder())
		}
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("lock lost: %s was removed", l.path)
	default:
		cur, err := ReadLock(dir)
		if err != nil {
			return fmt.Errorf("lock lost: %w", err)
		}
		if !sameHolder(*cur, l.info) {
			return fmt.Errorf("lock lost: now held by %s", cur.Holder())
		}
		if err := os.Rename(tmp, l.path); err != nil {
			return fmt.Errorf("refresh lock: %w", err)
		}
	}
	l.info = next
	return syncDir(dir)
}

// writeTemp writes data to a new 0600 temp file in dir, fsynced, and
// returns its path.
func writeTemp(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// Lost reports why the refresher stopped, or nil while the lock is held.
func (l *Lock) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Info is the lock as written by this process.
func (l *Lock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

func sameHolder(a, b LockInfo) bool {
	return a.PID == b.PID && a.Host == b.Host && a.StartedAt.Equal(b.StartedAt)
}

// Release stops the refresher and removes the lock if it is still ours.
func (l *Lock) Release() error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, err := ReadLock(filepath.Dir(l.path))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("release lock: %w", err)
	}
	if !sameHolder(*cur, l.info) {
		return nil
	}
	if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	return syncDir(filepath.Dir(l.path))
}

// UnreadableLockError: Unlock found a lock file it cannot read, too
// recent to be stale, and was not told to force: it may belong to a run
// that is writing it right now.
type UnreadableLockError struct{ Err error }

func (e *UnreadableLockError) Error() string { return e.Err.Error() }
func (e *UnreadableLockError) Unwrap() error { return e.Err }

// Unlock removes dir/lock. Without force it removes a stale lock only and
// returns *LockedError for a live one. With force it removes any lock. It
// returns what it removed, or (nil, nil) when there was no lock.
func Unlock(dir string, force bool) (*LockInfo, error) {
	path := filepath.Join(dir, LockFile)
	info, err := ReadLock(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		if !force {
			if le, ok := lockedError(path, time.Now()).(*LockedError); ok && le.Stale {
				if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					return nil, fmt.Errorf("unlock: %w", rerr)
				}
				return &LockInfo{}, nil
			}
			return nil, &UnreadableLockError{Err: err}
		}
		info = &LockInfo{}
	} else if !force {
		if stale, _ := IsStale(*info, time.Now()); !stale {
			return nil, &LockedError{Path: path, Info: *info}
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("unlock: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return info, nil
}
