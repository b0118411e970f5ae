//go:build !linux

package kdctest

import "syscall"

// procAttr has no parent-death signal outside Linux; t.Cleanup stops krb5kdc.
func procAttr() *syscall.SysProcAttr { return nil }
