// Package runbooks holds the runbook definitions (YAML files embedded in
// the binary) and their loader. A runbook names its steps and the step kind
// that implements each; Bind maps the kinds to the steps package's
// factories and yields the engine.Runbook to run. Every problem in a
// runbook file is reported with its file:line.
package runbooks

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/exrunbook/exrunbook/internal/editdistance"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/steps"
)

//go:embed *.yaml
var builtin embed.FS

// DefaultName is the runbook run when --runbook is not given.
const DefaultName = "split-namespace"

// Def is a parsed runbook, not yet bound to step implementations.
type Def struct {
	Name        string
	Description string
	Steps       []StepDef
	// Source is the file it was read from ("split-namespace.yaml" for an
	// embedded one).
	Source string
	// Hash is Hash of the file's bytes.
	Hash string
}

// StepDef is one step as written in the runbook.
type StepDef struct {
	ID, Kind, Title string
	// Approval is "required" or "auto".
	Approval string
	// With holds the step's parameters (nil when none).
	With map[string]any
	// Line is where the step starts in Source.
	Line int
}

// Problem is one thing wrong in a runbook file.
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// Error is an invalid runbook: every problem found. The CLI maps it to
// exit code 2.
type Error struct {
	Problems []Problem
	// Missing lists step kinds the runbook uses that no step
	// implementation provides in this build.
	Missing []string
}

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid runbook: ")
		b.WriteString(e.Problems[0].String())
	} else {
		fmt.Fprintf(&b, "invalid runbook (%d problems):", len(e.Problems))
		for _, p := range e.Problems {
			b.WriteString("\n  ")
			b.WriteString(p.String())
		}
	}
	if len(e.Missing) > 0 {
		fmt.Fprintf(&b, "\nstep kinds not available in this build: %s; nothing was run", strings.Join(e.Missing, ", "))
	}
	return b.String()
}

// Hash is the digest of a runbook file's bytes that the engine stores to
// refuse a resume under a changed runbook.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Names lists the embedded runbooks.
func Names() []string {
	entries, err := fs.Glob(builtin, "*.yaml")
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e, ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Builtin loads the embedded runbook name (e.g. "split-namespace").
func Builtin(name string) (*Def, error) {
	data, err := builtin.ReadFile(name + ".yaml")
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: name, Message: fmt.Sprintf("no built-in runbook %q; the built-in runbooks are %s", name, strings.Join(Names(), ", "))}}}
	}
	return Parse(name+".yaml", data)
}

// LoadFile loads a runbook from a file (--runbook FILE).
func LoadFile(path string) (*Def, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{Problems: []Problem{{File: path, Message: fmt.Sprintf("cannot read runbook: %v", err)}}}
	}
	return Parse(path, data)
}

var (
	idRE       = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	topFields  = []string{"name", "description", "steps"}
	stepFields = []string{"id", "kind", "title", "approval", "with"}
)

// Parse reads a runbook. source names it in messages. It checks the
// structure (unknown fields, duplicate ids, missing values, approvals),
// not whether the kinds exist: Bind does that against a registry.
func Parse(source string, data []byte) (*Def, error) {
	p := &parser{file: source}
	def := &Def{Source: source, Hash: Hash(data)}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.syntax(err)
		return nil, p.err()
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		line := 1
		if len(root.Content) > 0 {
			line = root.Content[0].Line
		}
		p.add(line, "a runbook is a mapping with the fields %s", strings.Join(topFields, ", "))
		return nil, p.err()
	}
	top := root.Content[0]
	var stepsNode *yaml.Node
	p.fields(top, topFields, "runbook", func(key, val *yaml.Node) {
		switch key.Value {
		case "name":
			def.Name = p.str(val, "name")
		case "description":
			def.Description = p.str(val, "description")
		case "steps":
			stepsNode = val
		}
	})
	if def.Name == "" {
		p.add(top.Line, "the runbook has no name; expected a field such as `name: split-namespace`")
	} else if !idRE.MatchString(def.Name) {
		p.add(top.Line, "runbook name %q is not valid; expected lower-case words joined by hyphens, such as split-namespace", def.Name)
	}
	switch {
	case stepsNode == nil:
		p.add(top.Line, "the runbook has no steps; expected `steps:` with a list of steps")
	case stepsNode.Kind != yaml.SequenceNode:
		p.add(stepsNode.Line, "steps must be a list of steps, not %s", describe(stepsNode))
	case len(stepsNode.Content) == 0:
		p.add(stepsNode.Line, "the runbook has no steps; expected at least one")
	default:
		seen := map[string]int{}
		for _, n := range stepsNode.Content {
			if s, ok := p.step(n); ok {
				if first, dup := seen[s.ID]; dup {
					p.add(s.Line, "duplicate step id %q (first defined on line %d); expected each id once", s.ID, first)
					continue
				}
				seen[s.ID] = s.Line
				def.Steps = append(def.Steps, s)
			}
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return def, nil
}

func (p *parser) step(n *yaml.Node) (StepDef, bool) {
	s := StepDef{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "a step must be a mapping with the fields %s, not %s", strings.Join(stepFields, ", "), describe(n))
		return s, false
	}
	before := len(p.problems)
	p.fields(n, stepFields, "step", func(key, val *yaml.Node) {
		switch key.Value {
		case "id":
			s.ID = p.str(val, "id")
		case "kind":
			s.Kind = p.str(val, "kind")
		case "title":
			s.Title = p.str(val, "title")
		case "approval":
			s.Approval = p.str(val, "approval")
		case "with":
			switch {
			case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
			case val.Kind != yaml.MappingNode:
				p.add(val.Line, "with must be a mapping of parameters, not %s", describe(val))
			default:
				var m map[string]any
				if err := val.Decode(&m); err != nil {
					p.add(val.Line, "with: %v", err)
				} else {
					s.With = m
				}
			}
		}
	})
	switch {
	case s.ID == "":
		p.add(n.Line, "the step has no id; expected a field such as `id: certificate`")
	case !idRE.MatchString(s.ID):
		p.add(n.Line, "step id %q is not valid; expected lower-case words joined by hyphens, such as bind-certificate", s.ID)
	}
	switch {
	case s.Kind == "":
		p.add(n.Line, "step %s has no kind; expected a field such as `kind: certificate`", s.ID)
	case !idRE.MatchString(s.Kind):
		p.add(n.Line, "step %s: kind %q is not valid; expected lower-case words joined by hyphens", s.ID, s.Kind)
	}
	if s.Title == "" {
		s.Title = s.ID
	}
	switch s.Approval {
	case "":
		s.Approval = "required"
	case "required", "auto":
	default:
		p.add(n.Line, "step %s: approval %q is not valid; expected required or auto", s.ID, s.Approval)
	}
	return s, len(p.problems) == before
}

// Registry is where Bind finds step kinds; *steps.Registry is one.
type Registry interface {
	Lookup(kind string) (steps.Factory, bool)
	Kinds() []string
}

// Missing returns the kinds def uses that reg does not provide, sorted.
func Missing(def *Def, reg Registry) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range def.Steps {
		if _, ok := reg.Lookup(s.Kind); !ok && !seen[s.Kind] {
			seen[s.Kind] = true
			out = append(out, s.Kind)
		}
	}
	sort.Strings(out)
	return out
}

// Bind builds each step through its kind's factory and returns the
// runbook for the engine. A kind missing from reg, or a factory's error
// (e.g. a bad `with:` parameter), is reported with the step's file:line;
// nothing is half-bound.
func Bind(def *Def, reg Registry, deps *steps.Deps) (engine.Runbook, error) {
	rb := engine.Runbook{Name: def.Name, Description: def.Description}
	e := &Error{Missing: Missing(def, reg)}
	available := reg.Kinds()
	avail := "none yet"
	if len(available) > 0 {
		avail = strings.Join(available, ", ")
	}
	for _, s := range def.Steps {
		f, ok := reg.Lookup(s.Kind)
		if !ok {
			e.Problems = append(e.Problems, Problem{File: def.Source, Line: s.Line,
				Message: fmt.Sprintf("step %s: kind %q is not available in this build (available kinds: %s)", s.ID, s.Kind, avail)})
			continue
		}
		st, err := f(s.ID, s.With, deps)
		if err != nil {
			e.Problems = append(e.Problems, Problem{File: def.Source, Line: s.Line, Message: fmt.Sprintf("step %s (%s): %v", s.ID, s.Kind, err)})
			continue
		}
		if st == nil {
			e.Problems = append(e.Problems, Problem{File: def.Source, Line: s.Line, Message: fmt.Sprintf("step %s: kind %q built no step", s.ID, s.Kind)})
			continue
		}
		rb.Steps = append(rb.Steps, engine.StepDef{ID: s.ID, Kind: s.Kind, Title: s.Title, Approval: s.Approval, Step: st})
	}
	if len(e.Problems) > 0 {
		return engine.Runbook{}, e
	}
	return rb, nil
}

// parser collects problems with their lines.
type parser struct {
	file     string
	problems []Problem
}

func (p *parser) add(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &Error{Problems: p.problems}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		p.add(line, "invalid YAML: %s", m[2])
		return
	}
	p.add(0, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// fields walks a mapping, reporting unknown and duplicate fields.
func (p *parser) fields(m *yaml.Node, known []string, what string, f func(key, val *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			p.add(k.Line, "duplicate field %q (first on line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		ok := false
		for _, n := range known {
			ok = ok || n == k.Value
		}
		if !ok {
			p.add(k.Line, "unknown %s field %q; expected one of %s%s", what, k.Value, strings.Join(known, ", "), suggest(k.Value, known))
			continue
		}
		f(k, v)
	}
}

func suggest(s string, known []string) string {
	best, ok := editdistance.Nearest(s, known, 3)
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.add(n.Line, "%s must be a string, not %s", field, describe(n))
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return strings.TrimSpace(n.Value)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "this value"
	}
}
