//go:build unix

package state

import (
	"errors"
	"os"
	"syscall"
)

// processGone reports whether no process with this pid exists on this
// host: kill(pid, 0) fails with ESRCH. EPERM means it exists.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// syncDir fsyncs a directory, making a rename or unlink in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}
