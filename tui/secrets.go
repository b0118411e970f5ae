package tui

import (
	"errors"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// SecretRequest names a secret that is neither in the environment nor in a
// file, and must be typed in at the start.
type SecretRequest struct {
	Name string // e.g. "exchange password"
	Hint string // where it could come from instead, e.g. "EXRUNBOOK_EXCHANGE_PASSWORD or exchange.password_file"
}

// ErrSecretsCancelled is returned when the operator leaves the prompt.
var ErrSecretsCancelled = errors.New("secret prompt cancelled: nothing was changed")

// SecretsModel asks for each missing secret in turn with masked input. The
// values stay in memory only.
type SecretsModel struct {
	reqs   []SecretRequest
	values map[string]string
	i      int
	input  textinput.Model
	st     styles
	err    error
	done   bool
}

// NewSecrets returns a prompt for reqs, styled by r (nil: default renderer).
func NewSecrets(reqs []SecretRequest, r *lipgloss.Renderer) *SecretsModel {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	in := textinput.New()
	in.EchoMode = textinput.EchoPassword
	in.EchoCharacter = '•'
	in.Focus()
	return &SecretsModel{reqs: reqs, values: map[string]string{}, input: in, st: newStyles(r)}
}

// Init starts the cursor blinking.
func (m *SecretsModel) Init() tea.Cmd { return textinput.Blink }

// Update reads keys into the masked input.
func (m *SecretsModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch k.Type {
		case tea.KeyCtrlC, tea.KeyEsc:
			m.err = ErrSecretsCancelled
			return m, tea.Quit
		case tea.KeyEnter:
			v := m.input.Value()
			if v == "" {
				return m, nil
			}
			m.values[m.reqs[m.i].Name] = v
			m.input.Reset()
			m.i++
			if m.i >= len(m.reqs) {
				m.done = true
				return m, tea.Quit
			}
			return m, nil
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// View shows the current question.
func (m *SecretsModel) View() string {
	if m.done || m.i >= len(m.reqs) {
		return ""
	}
	r := m.reqs[m.i]
	var b strings.Builder
	b.WriteString(m.st.header.Render("exrunbook needs a secret") + "\n\n")
	b.WriteString(m.st.title.Render(r.Name) + "\n")
	if r.Hint != "" {
		b.WriteString(m.st.dim.Render("(not set; it can also come from "+r.Hint+")") + "\n")
	}
	b.WriteString("\n" + m.input.View() + "\n\n")
	b.WriteString(m.st.dim.Render("enter to continue · esc to cancel · the value is kept in memory only"))
	return b.String()
}

// Values returns what was typed, by secret name, or the cancellation error.
func (m *SecretsModel) Values() (map[string]string, error) {
	if m.err != nil {
		return nil, m.err
	}
	if !m.done {
		return nil, ErrSecretsCancelled
	}
	return m.values, nil
}
