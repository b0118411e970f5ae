//go:build !linux

package peertest

import "syscall"

// procAttr has no parent-death signal outside Linux; the test's cleanup stops the program.
func procAttr() *syscall.SysProcAttr { return nil }
