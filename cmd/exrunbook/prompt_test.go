package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestConfirm(t *testing.T) {
	cases := []struct {
		in   string
		want []bool
	}{
		{"y\n", []bool{true}},
		{"YES\r\n", []bool{true}},
		{"n\n", []bool{false}},
		{"\n", []bool{false}},
		{"sure\n", []bool{false}},
		{"y", []bool{true}},        // no newline before EOF
		{"", []bool{false, false}}, // EOF means no, every time
		{"y\nn\ny\n", []bool{true, false, true}},
	}
	for _, c := range cases {
		var errb bytes.Buffer
		s := &IOStreams{ErrOut: &errb}
		lr := newLineReader(strings.NewReader(c.in))
		for i, want := range c.want {
			got, err := confirm(context.Background(), s, lr, "Go on")
			if err != nil || got != want {
				t.Errorf("%q answer %d: %v, %v; want %v", c.in, i, got, err, want)
			}
		}
		if !strings.HasPrefix(errb.String(), "Go on? [y/N] ") {
			t.Errorf("question = %q", errb.String())
		}
	}
}

// Ctrl-C while the question waits for an answer returns at once.
func TestConfirmCancelled(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := &IOStreams{ErrOut: io.Discard}
	done := make(chan error, 1)
	go func() {
		_, err := confirm(ctx, s, newLineReader(pr), "Go on")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("confirm did not return after cancel")
	}
}
