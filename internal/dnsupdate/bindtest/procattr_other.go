//go:build !linux

package bindtest

import "syscall"

// procAttr has no parent-death signal outside Linux; t.Cleanup stops named.
func procAttr() *syscall.SysProcAttr { return nil }
