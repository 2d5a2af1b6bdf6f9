package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tandemproxy/tandem/store"
)

// exchangesModel is the third view: the stored exchanges of an endpoint,
// or of one of its patterns, newest first.
type exchangesModel struct {
	sh     *shared
	scope  scope
	rows   []store.Summary
	loaded bool
	shown  int // rows the filter keeps
	list
}

func newExchanges(sh *shared, sc scope) exchangesModel {
	return exchangesModel{sh: sh, scope: sc, list: newList(
		column{title: "#", width: 6, right: true},
		column{title: "TIME", width: 8},
		column{title: "OUTCOME", width: 10},
		column{title: "STATUS", width: 7},
		column{title: "TRIAGE", width: 8},
		column{title: "URL", flex: 3},
		column{title: "PATTERNS", flex: 2},
	)}
}

func (m exchangesModel) update(msg tea.Msg) (exchangesModel, tea.Cmd) {
	m.sizeAndScroll(msg)
	switch msg := msg.(type) {
	case exchangesLoaded:
		if msg.err == nil && msg.scope == m.scope {
			m.rows, m.loaded = msg.rows, true
			m.rebuild()
		}
	case tea.KeyMsg:
		k := m.sh.keys
		s, ok := m.selected()
		switch {
		case key.Matches(msg, k.Exchanges):
			return m, navigate(openExchanges{scope: scope{endpoint: m.scope.endpoint}})
		case !ok:
			m.table.keys(msg, k)
		case key.Matches(msg, k.Open):
			return m, navigate(openDetail{id: s.ID, from: m.scope})
		case key.Matches(msg, k.Accept, k.Bug, k.Reopen, k.Note):
			return m, triageKey(msg, k, s.Triage, func(t store.Triage) tea.Cmd { return triageExchange(m.sh, s.ID, t) })
		case key.Matches(msg, k.Copy):
			return m, copyExchange(m.sh, s.ID, nil)
		default:
			m.table.keys(msg, k)
		}
	}
	return m, nil
}

func (m exchangesModel) selected() (store.Summary, bool) {
	r, ok := m.table.selected()
	if !ok {
		return store.Summary{}, false
	}
	for _, s := range m.rows {
		if strconv.FormatInt(s.ID, 10) == r.key {
			return s, true
		}
	}
	return store.Summary{}, false
}

func (m *exchangesModel) rebuild() {
	var rows []row
	for i := range m.rows {
		s := &m.rows[i]
		if !m.filter.exchange(s) {
			continue
		}
		status := strconv.Itoa(s.LegacyStatus)
		switch {
		case s.CandidateError != "":
			status += "→err"
		case s.CandidateStatus != s.LegacyStatus:
			status += "→" + strconv.Itoa(s.CandidateStatus)
		}
		patterns := strings.Join(s.Patterns, " ")
		if len(s.NoisePatterns) > 0 {
			patterns = strings.TrimSpace(patterns + " ~" + strings.Join(s.NoisePatterns, " ~"))
		}
		if s.CandidateError != "" {
			patterns = s.CandidateError
		}
		r := row{key: strconv.FormatInt(s.ID, 10), cells: []string{
			strconv.FormatInt(s.ID, 10),
			s.Time.UTC().Format("15:04:05"),
			strings.ReplaceAll(strings.Replace(string(s.Outcome), "candidate", "cand", 1), "_", " "),
			status,
			string(s.State),
			servedMark(s.ServedBy) + s.Method + " " + s.URL, // cutover.go
			patterns,
		}}
		switch s.State {
		case store.TriageBug:
			r.style = &m.sh.st.bug
		case store.TriageAccepted:
			r.style = &m.sh.st.dim
		}
		rows = append(rows, r)
	}
	m.shown = len(rows)
	m.table.setRows(rows)
}

func (m exchangesModel) header() string {
	if !m.loaded {
		return "loading…"
	}
	counts := map[store.TriageState]int{}
	for _, s := range m.rows {
		counts[s.State]++
	}
	of := fmt.Sprint(len(m.rows))
	if len(m.rows) == listLimit {
		of = fmt.Sprintf("the newest %d", listLimit)
	}
	return fmt.Sprintf("%d of %s shown · %s", m.shown, of, triageCounts(counts))
}

func (m exchangesModel) footer() string {
	s, ok := m.selected()
	if !ok {
		switch {
		case len(m.rows) > 0:
			return noMatch
		case m.loaded:
			return "no stored exchanges here (matches are stored only with --record all)"
		}
		return ""
	}
	// The note first: the URL is often too long for the line.
	f := fmt.Sprintf("#%d ", s.ID)
	if s.Triage.Note != "" {
		f += "note: " + s.Triage.Note + " · "
	}
	f += fmt.Sprintf("%s %s · legacy %s · candidate %s", s.Method, s.URL, dur(s.LegacyLatency), dur(s.CandidateLatency))
	if s.CandidateError != "" {
		f += " · " + s.CandidateError
	}
	return f
}

func (m exchangesModel) view() string { return m.table.view(m.sh.st) }
