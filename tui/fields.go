package tui

import (
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tandemproxy/tandem/store"
)

// fieldsModel is the second view: the patterns at which an endpoint's
// exchanges differ.
type fieldsModel struct {
	sh       *shared
	endpoint string
	ep       store.EndpointReport
	fields   []store.EndpointField
	loaded   bool
	list
}

func newFields(sh *shared, endpoint string) fieldsModel {
	return fieldsModel{sh: sh, endpoint: endpoint, list: newList(
		column{title: "PATTERN", flex: 2},
		column{title: "COUNT", width: 6, right: true},
		column{title: "SHARE", width: 6, right: true},
		column{title: "NOISE", width: 11},
		column{title: "VERDICT", width: 10},
		column{title: "TRIAGE", width: 8},
		column{title: "LEGACY → CANDIDATE", flex: 3},
	)}
}

func (m fieldsModel) update(msg tea.Msg) (fieldsModel, tea.Cmd) {
	m.sizeAndScroll(msg)
	switch msg := msg.(type) {
	case fieldsLoaded:
		if msg.err == nil && msg.endpoint == m.endpoint {
			m.ep, m.fields, m.loaded = msg.ep, msg.fields, true
			m.rebuild()
		}
	case tea.KeyMsg:
		k := m.sh.keys
		f, ok := m.selected()
		switch {
		case key.Matches(msg, k.Exchanges):
			return m, navigate(openExchanges{scope: scope{endpoint: m.endpoint}})
		case !ok:
			m.table.keys(msg, k)
		case key.Matches(msg, k.Open):
			return m, navigate(openExchanges{scope: scope{endpoint: m.endpoint, pattern: f.Pattern}})
		case key.Matches(msg, k.Ignore):
			return m, navigate(ignoreRequest{m.endpoint, f.Pattern})
		case key.Matches(msg, k.Accept, k.Bug, k.Reopen, k.Note):
			return m, triageKey(msg, k, f.Triage, func(t store.Triage) tea.Cmd { return triagePattern(m.sh, m.endpoint, f.Pattern, t) })
		default:
			m.table.keys(msg, k)
		}
	}
	return m, nil
}

// triageKey is what a triage key does to the decision t that save stores
// (a pattern's or an exchange's): a, b and o set its state and keep its
// note, n asks for a note.
func triageKey(msg tea.KeyMsg, k keyMap, t store.Triage, save func(store.Triage) tea.Cmd) tea.Cmd {
	if key.Matches(msg, k.Note) {
		return askNote(t, save)
	}
	return save(store.Triage{State: stateFor(msg, k), Note: t.Note})
}

// stateFor maps a triage key to its state.
func stateFor(msg tea.KeyMsg, k keyMap) store.TriageState {
	switch {
	case key.Matches(msg, k.Accept):
		return store.TriageAccepted
	case key.Matches(msg, k.Bug):
		return store.TriageBug
	}
	return store.TriageOpen
}

func (m fieldsModel) selected() (store.EndpointField, bool) {
	r, ok := m.table.selected()
	if !ok {
		return store.EndpointField{}, false
	}
	for _, f := range m.fields {
		if f.Pattern == r.key {
			return f, true
		}
	}
	return store.EndpointField{}, false
}

// noisy says how noisy a pattern is: the share of exchanges compared with
// a secondary where legacy disagreed with itself there, or how many
// candidate differences there were judged noise.
func (m *fieldsModel) noisy(f store.EndpointField) string {
	for _, n := range m.ep.NoisyFields {
		if n.Pattern == f.Pattern {
			return fmt.Sprintf("noisy %.0f%%", 100*n.Rate)
		}
	}
	if f.Noise > 0 {
		return fmt.Sprintf("noise %d", f.Noise)
	}
	return ""
}

func (m *fieldsModel) rebuild() {
	var rows []row
	for _, f := range m.fields {
		if !m.filter.text(f.Pattern, f.Triage.Note, f.ExampleLegacy, f.ExampleCandidate) || !m.filter.triage(f.Triage.State) {
			continue
		}
		r := row{key: f.Pattern, cells: []string{
			f.Pattern,
			fmt.Sprint(f.Count),
			pct(f.Count, m.ep.Compared),
			m.noisy(f),
			string(f.Verdict),
			string(f.Triage.State),
			example(f.ExampleLegacy, f.ExampleCandidate),
		}}
		switch {
		case f.Triage.State == store.TriageBug:
			r.style = &m.sh.st.bug
		case f.Count == 0 || f.Triage.State == store.TriageAccepted:
			r.style = &m.sh.st.dim
		}
		rows = append(rows, r)
	}
	m.table.setRows(rows)
}

func example(legacy, candidate string) string {
	if legacy == "" {
		legacy = "(none)"
	}
	if candidate == "" {
		candidate = "(none)"
	}
	return legacy + " → " + candidate
}

func (m fieldsModel) header() string {
	if !m.loaded {
		return "loading…"
	}
	counts := map[store.TriageState]int{}
	for _, f := range m.fields {
		counts[f.Triage.State]++
	}
	mism := fmt.Sprintf("%d mismatched", m.ep.Mismatched)
	if m.ep.Mismatched > 0 {
		mism += fmt.Sprintf(" (%s%%)", pct(m.ep.Mismatched, m.ep.Compared))
	}
	return fmt.Sprintf("%d compared · %s · %s: %s",
		m.ep.Compared, mism, plural(len(m.fields), "pattern", "patterns"), triageCounts(counts))
}

// triageCounts says how many decisions are open, bug and accepted.
func triageCounts(counts map[store.TriageState]int) string {
	return fmt.Sprintf("%d open · %d bug · %d accepted", counts[store.TriageOpen], counts[store.TriageBug], counts[store.TriageAccepted])
}

// plural says "1 thing" or "n things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (m fieldsModel) footer() string {
	f, ok := m.selected()
	if !ok {
		switch {
		case len(m.fields) > 0:
			return noMatch
		case m.loaded:
			return "no differences recorded for this endpoint"
		}
		return ""
	}
	// The note before the example, which is often too long for the line.
	s := f.Pattern + ": "
	if f.Verdict != "" {
		s += verdictLine(f.Field) + " · "
	}
	if f.Triage.Note != "" {
		s += "note: " + f.Triage.Note + " · "
	}
	return s + example(f.ExampleLegacy, f.ExampleCandidate)
}

func (m fieldsModel) view() string { return m.table.view(m.sh.st) }
