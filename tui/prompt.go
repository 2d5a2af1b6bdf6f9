package tui

import (
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tandemproxy/tandem/store"
)

type promptKind int

const (
	noPrompt promptKind = iota
	filterPrompt
	notePrompt
)

// prompt is the one-line input at the bottom: the list filter (applied as
// it is typed) or a triage note.
type prompt struct {
	kind     promptKind
	label    string
	value    []rune
	pos      int
	previous string // the filter before the prompt opened, for esc
	triage   store.Triage
	save     func(store.Triage) tea.Cmd
}

func (p prompt) view() string {
	cur := string(p.value[:p.pos]) + "█" + string(p.value[p.pos:])
	hint := "  (enter: apply, esc: cancel)"
	if p.kind == notePrompt {
		hint = "  (enter: save, esc: cancel)"
	}
	return p.label + clean(cur) + hint
}

// edit applies an editing key; it reports false for keys it does not edit
// with.
func (p *prompt) edit(msg tea.KeyMsg) bool {
	switch msg.Type {
	case tea.KeyRunes, tea.KeySpace:
		r := msg.Runes
		if msg.Type == tea.KeySpace {
			r = []rune{' '}
		}
		p.value = append(p.value[:p.pos], append(append([]rune{}, r...), p.value[p.pos:]...)...)
		p.pos += len(r)
	case tea.KeyBackspace:
		if p.pos > 0 {
			p.value = append(p.value[:p.pos-1], p.value[p.pos:]...)
			p.pos--
		}
	case tea.KeyDelete:
		if p.pos < len(p.value) {
			p.value = append(p.value[:p.pos], p.value[p.pos+1:]...)
		}
	case tea.KeyLeft:
		p.pos = max(0, p.pos-1)
	case tea.KeyRight:
		p.pos = min(len(p.value), p.pos+1)
	case tea.KeyHome, tea.KeyCtrlA:
		p.pos = 0
	case tea.KeyEnd, tea.KeyCtrlE:
		p.pos = len(p.value)
	case tea.KeyCtrlU:
		p.value, p.pos = p.value[p.pos:], 0
	default:
		return false
	}
	return true
}

func (m Model) promptKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := &m.prompt
	switch msg.Type {
	case tea.KeyEnter:
		kind, value, save, t := p.kind, string(p.value), p.save, p.triage
		m.prompt = prompt{}
		if kind == notePrompt {
			t.Note = value
			if t.State == "" {
				t.State = store.TriageOpen
			}
			return m, save(t)
		}
		return m, nil
	case tea.KeyEsc:
		if p.kind == filterPrompt {
			m.setFilter(p.previous)
		}
		m.prompt = prompt{}
		return m, nil
	}
	if p.edit(msg) && p.kind == filterPrompt {
		m.setFilter(string(p.value))
	}
	return m, nil
}
