//go:build linux

package state

import "golang.org/x/sys/unix"

// exchange atomically swaps the files at a and b (renameat2
// RENAME_EXCHANGE). Filesystems without it return EINVAL.
func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
