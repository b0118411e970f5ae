package peertest

import (
	"os/exec"
	"testing"
	"time"
)

func TestProcess(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stop   bool // stop it rather than wait for it to exit
		output string
	}{
		{"its output is kept", []string{"sh", "-c", "echo out; echo err >&2"}, false, "out\nerr\n"},
		{"a program that runs on is stopped", []string{"sleep", "60"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exec.LookPath(tt.args[0]); err != nil {
				t.Fatalf("%s is part of every system this runs on: %v", tt.args[0], err)
			}
			p, err := Start(exec.Command(tt.args[0], tt.args[1:]...))
			if err != nil {
				t.Fatal(err)
			}
			if tt.stop {
				p.Stop()
				p.Stop() // a second Stop returns at once
			}
			select {
			case <-p.Exited():
			case <-time.After(10 * time.Second):
				t.Fatal("the program did not exit")
			}
			if got := p.Output(); got != tt.output {
				t.Fatalf("Output() = %q, want %q", got, tt.output)
			}
		})
	}
}

func TestNilProcess(t *testing.T) {
	var p *Process
	p.Stop()
	if got := p.Output(); got != "" {
		t.Fatalf("Output() of nil = %q", got)
	}
}
