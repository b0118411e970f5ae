package kdctest

import "syscall"

// procAttr makes the kernel kill krb5kdc when the test process dies, so an
// interrupted test run leaves no server behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
