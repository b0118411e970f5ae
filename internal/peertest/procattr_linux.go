package peertest

import "syscall"

// procAttr makes the kernel kill the program when the test process dies, so an
// interrupted test run leaves no daemon behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
