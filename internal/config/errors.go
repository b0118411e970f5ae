package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key is the dotted config key ("exchange.endpoint"), or "" for a
	// problem with the file as a whole.
	Key string
	// Source says where the value came from: "exrunbook.yaml:12", "environment
	// variable EXRUNBOOK_EXCHANGE_ENDPOINT", "flag"; "" for a
	// missing value.
	Source string
	// Message says what is wrong and what is expected. It quotes the bad
	// value (never a secret).
	Message string

	file string
	line int
}

// String renders the problem as "SOURCE: KEY: MESSAGE".
func (p Problem) String() string {
	var b strings.Builder
	if p.Source != "" {
		b.WriteString(p.Source)
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is an invalid configuration: every problem found, not just the
// first. The CLI maps it to exit code 2.
type Error struct {
	Problems []Problem
	// NoFile is the default config file, when it was looked for in the
	// current directory and not found (the values came from the
	// environment alone); "" otherwise. Problems[0] then says so, and the
	// CLI says how to name a file.
	NoFile string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems while loading and validating.
type problems struct {
	list []Problem
}

func (ps *problems) add(key, format string, args ...any) {
	ps.list = append(ps.list, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) addAt(file string, line int, key, format string, args ...any) {
	src := file
	if line > 0 {
		src = fmt.Sprintf("%s:%d", file, line)
	}
	ps.list = append(ps.list, Problem{Key: key, Source: src, Message: fmt.Sprintf(format, args...), file: file, line: line})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	// File problems in line order first, then the rest in key order.
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.line > 0) != (b.line > 0) {
			return a.line > 0
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return false
	})
	return &Error{Problems: list}
}
