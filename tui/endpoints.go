package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tandemproxy/tandem/cutover"
	"github.com/tandemproxy/tandem/store"
)

// sortKey is a column the endpoints can be sorted by.
type sortKey int

const (
	byWorst sortKey = iota // most mismatches, then most candidate errors: the default
	byName
	byCompared
	byMismatchRate
	byNoiseRate
	byErrors
	byLatency // candidate p99
	sortKeys
)

var sortNames = [...]string{"worst first", "endpoint", "compared", "mismatch %", "noise %", "candidate errors", "candidate p99"}

// sortColumns is the column each sort key marks (0: none; worst first
// weighs two columns).
var sortColumns = [...]int{0, 1, 2, 3, 4, 5, 7}

// endpointsModel is the first view: one row per endpoint.
type endpointsModel struct {
	sh     *shared
	report *store.Report
	trend  map[string][]int64
	cut    map[string]store.CutoverState // cutover.go
	sort   sortKey
	asc    bool // reversed: best first
	list
}

func newEndpoints(sh *shared) endpointsModel {
	return endpointsModel{sh: sh, list: newList(
		column{title: "ENDPOINT", flex: 1, middle: true},
		// Room for the sort mark after each title.
		column{title: "COMPARED", width: 9, right: true},
		column{title: "MISM%", width: 6, right: true},
		column{title: "NOISE%", width: 7, right: true},
		column{title: "C.ERR", width: 6, right: true},
		column{title: "LEGACY ms", width: 9, right: true},
		column{title: "CAND. ms", width: 9, right: true},
		column{title: "TREND", width: trendSpans},
	)}
}

func (m endpointsModel) update(msg tea.Msg) (endpointsModel, tea.Cmd) {
	m.sizeAndScroll(msg)
	switch msg := msg.(type) {
	case endpointsLoaded:
		if msg.err == nil {
			m.report, m.trend, m.cut = msg.report, msg.trend, msg.cutover
			m.rebuild()
		}
	case tea.KeyMsg:
		k := m.sh.keys
		switch {
		case key.Matches(msg, k.Sort):
			m.sort = (m.sort + 1) % sortKeys
			m.asc = m.sort == byName
			m.rebuild()
		case key.Matches(msg, k.Reverse):
			m.asc = !m.asc
			m.rebuild()
		case key.Matches(msg, k.Open):
			if r, ok := m.table.selected(); ok {
				return m, navigate(openFields{endpoint: r.key})
			}
		case key.Matches(msg, k.Pause), key.Matches(msg, k.Rollback): // cutover.go
			if r, ok := m.table.selected(); ok {
				return m, operateCutover(m.sh, r.key, map[bool]cutover.Action{true: cutover.Pause, false: cutover.Rollback}[key.Matches(msg, k.Pause)])
			}
		case key.Matches(msg, k.Exchanges):
			if r, ok := m.table.selected(); ok {
				return m, navigate(openExchanges{scope: scope{endpoint: r.key}})
			}
		default:
			m.table.keys(msg, k)
		}
	}
	return m, nil
}

func navigate(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }

func rate(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func (m *endpointsModel) sorted() []store.EndpointReport {
	if m.report == nil {
		return nil
	}
	var eps []store.EndpointReport
	for _, e := range m.report.Endpoints {
		if m.filter.text(e.Endpoint) {
			eps = append(eps, e)
		}
	}
	by := func(a, b store.EndpointReport) int { // ascending
		switch m.sort {
		case byName:
			return strings.Compare(a.Endpoint, b.Endpoint)
		case byCompared:
			return cmp.Compare(a.Compared, b.Compared)
		case byMismatchRate:
			return cmp.Compare(rate(a.Mismatched, a.Compared), rate(b.Mismatched, b.Compared))
		case byNoiseRate:
			return cmp.Compare(rate(a.Noise, a.Compared), rate(b.Noise, b.Compared))
		case byErrors:
			return cmp.Compare(a.CandidateErrors, b.CandidateErrors)
		case byLatency:
			return cmp.Compare(a.Latency.CandidateP99, b.Latency.CandidateP99)
		}
		return cmp.Or(cmp.Compare(a.Mismatched, b.Mismatched), cmp.Compare(a.CandidateErrors, b.CandidateErrors))
	}
	// Descending unless reversed (names: A to Z); ties by name.
	slices.SortStableFunc(eps, func(a, b store.EndpointReport) int {
		c := by(a, b)
		if !m.asc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.Endpoint, b.Endpoint))
	})
	return eps
}

func (m *endpointsModel) rebuild() {
	var rows []row
	for _, e := range m.sorted() {
		cells := []string{
			e.Endpoint,
			fmt.Sprint(e.Compared),
			pct(e.Mismatched, e.Compared),
			pct(e.Noise, e.Compared),
			count(e.CandidateErrors),
			latency(e.Latency.LegacyP50, e.Latency.LegacyP99),
			latency(e.Latency.CandidateP50, e.Latency.CandidateP99),
			sparkline(m.trend[e.Endpoint]),
		}
		r := row{key: e.Endpoint, cells: cells}
		if e.Mismatched == 0 && e.CandidateErrors == 0 && e.DiffErrors == 0 {
			r.style = &m.sh.st.dim
		}
		rows = append(rows, r)
	}
	m.table.sorted, m.table.ascending = sortColumns[m.sort], m.asc
	m.table.setRows(rows)
}

func pct(n, of int64) string {
	if of == 0 || n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", 100*rate(n, of))
}

// count is n, or "-" for none (as pct), so that what is not zero stands
// out.
func count(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// latency formats p50/p99 with the slash at the same place on every row.
func latency(p50, p99 float64) string { return fmt.Sprintf("%4s/%-4s", ms(p50), ms(p99)) }

// ms formats milliseconds in at most four characters.
func ms(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.1f", v)
	case v < 10000:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.0fs", v/1000)
}

var bars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws counts as bars scaled to their maximum; a span without
// mismatches is a blank.
func sparkline(counts []int64) string {
	var top int64
	for _, c := range counts {
		top = max(top, c)
	}
	if top == 0 {
		return ""
	}
	var b strings.Builder
	for _, c := range counts {
		if c <= 0 {
			b.WriteRune(' ')
			continue
		}
		b.WriteRune(bars[(c*int64(len(bars))+top-1)/top-1])
	}
	return b.String()
}

func (m endpointsModel) header() string {
	if m.report == nil {
		return "loading…"
	}
	t := m.report.Totals
	return fmt.Sprintf("%d requests · %d compared · %d mismatched · %d noise · %d candidate errors",
		t.Requests, t.Compared, t.Mismatched, t.Noise, t.CandidateErrors)
}

// sortText says how the rows are sorted (the title line shows it, the
// sorted column's title carries ▼ or ▲); "" until they are loaded.
func (m endpointsModel) sortText() string {
	switch {
	case m.report == nil:
		return ""
	case m.sort == byWorst && !m.asc:
		return "sorted worst first"
	case m.sort == byWorst:
		return "sorted best first"
	case m.sort == byName && m.asc:
		return "sorted by endpoint, A to Z"
	case m.sort == byName:
		return "sorted by endpoint, Z to A"
	case m.asc:
		return "sorted by " + sortNames[m.sort] + ", lowest first"
	}
	return "sorted by " + sortNames[m.sort] + ", highest first"
}

func (m endpointsModel) footer() string {
	r, ok := m.table.selected()
	if !ok {
		switch {
		case m.report == nil:
			return ""
		case len(m.report.Endpoints) == 0:
			return "nothing recorded yet: this view refreshes as a proxy writes to the database"
		}
		return noMatch
	}
	for _, e := range m.report.Endpoints {
		if e.Endpoint == r.key {
			// The full name (the column may cut it), then what is not
			// zero: at 80 columns the line has no room for zeros.
			parts := []string{e.Endpoint, fmt.Sprintf("%d matched", e.Matched)}
			for _, c := range []struct {
				n    int64
				what string
			}{{e.Mismatched, "mismatched"}, {e.Noise, "noise"}, {e.CandidateErrors, "candidate errors"}, {e.DiffErrors, "diff errors"}} {
				if c.n != 0 {
					parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
				}
			}
			if s, ok := m.cut[e.Endpoint]; ok {
				parts = append(parts, cutoverText(s))
			}
			return strings.Join(parts, " · ")
		}
	}
	return ""
}

func (m endpointsModel) view() string { return m.table.view(m.sh.st) }
