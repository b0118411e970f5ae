//go:build windows

package state

import (
	"errors"
	"syscall"
)

// stillActive is the exit code Windows reports for a running process;
// errorInvalidParameter is what OpenProcess fails with for an unknown pid.
const (
	stillActive           = 259
	errorInvalidParameter = syscall.Errno(87)
)

// processGone reports whether no running process with this pid exists on
// this host. A process that cannot be opened for lack of rights exists.
func processGone(pid int) bool {
	h, err := syscall.OpenProcess(syscall.PROCESS_QUERY_INFORMATION, false, uint32(pid))
	if err != nil {
		return errors.Is(err, errorInvalidParameter) // no such process
	}
	defer syscall.CloseHandle(h)
	var code uint32
	if err := syscall.GetExitCodeProcess(h, &code); err != nil {
		return false
	}
	return code != stillActive
}

// syncDir is a no-op on Windows: directories cannot be flushed there, and
// NTFS journals the rename itself.
func syncDir(string) error { return nil }
