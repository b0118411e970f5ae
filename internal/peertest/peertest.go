// Package peertest runs a peer program that tests talk to (named,
// krb5kdc): it starts the program with its output kept, tells when it
// has exited, and stops it. On Linux the program is killed with the test
// process, so a crashed test leaves no daemon behind.
package peertest

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Process is a started peer program.
type Process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	exited chan struct{}
}

// Start starts cmd, keeping what it prints on stdout and stderr.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = (*output)(p), (*output)(p)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// output is a Process as the writer of its program's output.
type output Process

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out.Write(b)
}

// Exited is closed once the program has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Output is what the program has printed so far ("" for a nil Process).
func (p *Process) Output() string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stop interrupts the program, kills it if it has not exited 5 s later,
// and returns once it has exited. It is safe to call twice, and on nil.
func (p *Process) Stop() {
	if p == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}
