package tui

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

// Every read and write happens in a command; its result comes back to
// Update as one of these messages.

// tickMsg asks the active view to reload (live updates).
type tickMsg struct{}

// statusMsg is a line for the status bar; err marks a failure.
type statusMsg struct {
	text string
	err  bool
}

type endpointsLoaded struct {
	report  *store.Report
	trend   map[string][]int64
	cutover map[string]store.CutoverState // cutover.go
	err     error
}

type fieldsLoaded struct {
	endpoint string
	ep       store.EndpointReport
	fields   []store.EndpointField
	err      error
}

// scope is what an exchanges list shows: an endpoint's exchanges, or those
// that differ at one of its patterns.
type scope struct{ endpoint, pattern string }

type exchangesLoaded struct {
	scope scope
	rows  []store.Summary
	err   error
}

// detailLoaded is an exchange loaded and laid out (the layout of large
// bodies takes long enough to stall the keys, so the command does it);
// unchanged says that it was judged and triaged as already shown.
type detailLoaded struct {
	ex                   *tandem.Exchange
	triage               store.Triage
	lines                []dline
	diffLine, diffTarget []int
	unchanged            bool
	err                  error
}

// ignoredMsg reports an ignore rule written (or, with undo, taken back)
// and the exchanges re-judged.
type ignoredMsg struct {
	endpoint, pattern string
	file              string
	line              int
	before, after     []byte // the rules file before and after
	changed, newRule  bool
	res               *store.RediffResult
	undo              bool
	err               error
}

type triagedMsg struct {
	what string
	err  error
}

type copiedMsg struct {
	curl  string // the command, on one line
	shown string // the same, a line per header
	err   error
}

// Navigation requests from the views to the root model.
type (
	openFields    struct{ endpoint string }
	openExchanges struct{ scope scope }
	openDetail    struct {
		id   int64
		from scope // the list it is opened from
	}
)

// listLimit bounds how many exchanges a list loads (the newest).
const listLimit = 1000

// trendSpans is the width of the endpoints' trend sparkline.
const trendSpans = 8

func loadEndpoints(sh *shared) tea.Cmd {
	return func() tea.Msg {
		ctx, db := sh.ctx, sh.db
		r, err := db.Report(ctx)
		if err != nil {
			return endpointsLoaded{err: err}
		}
		tr, err := db.Trend(ctx, trendSpans)
		return endpointsLoaded{report: r, trend: tr, cutover: cutoverStates(ctx, db), err: err}
	}
}

func loadFields(sh *shared, endpoint string) tea.Cmd {
	return func() tea.Msg {
		ctx, db := sh.ctx, sh.db
		r, err := db.Report(ctx)
		if err != nil {
			return fieldsLoaded{endpoint: endpoint, err: err}
		}
		msg := fieldsLoaded{endpoint: endpoint, ep: store.EndpointReport{Endpoint: endpoint}}
		for _, e := range r.Endpoints {
			if e.Endpoint == endpoint {
				msg.ep = e
			}
		}
		msg.fields, msg.err = db.Fields(ctx, endpoint)
		withVerdicts(msg.fields, msg.ep.Fields)
		return msg
	}
}

func loadExchanges(sh *shared, sc scope) tea.Cmd {
	return func() tea.Msg {
		rows, err := sh.db.Summaries(sh.ctx, store.Filter{Endpoint: sc.endpoint, Pattern: sc.pattern, Desc: true, Limit: listLimit})
		return exchangesLoaded{scope: sc, rows: rows, err: err}
	}
}

// loadDetail loads the exchange that shown shows and lays it out, unless
// its verdict and triage are those shown: a stored exchange's messages
// never change.
func loadDetail(sh *shared, shown detailModel) tea.Cmd {
	return func() tea.Msg {
		ctx := sh.ctx
		ex, err := sh.db.Exchange(ctx, shown.id)
		if err != nil {
			return detailLoaded{err: err}
		}
		t, err := sh.db.ExchangeTriage(ctx, shown.id)
		if err != nil {
			return detailLoaded{ex: ex, err: err}
		}
		if shown.ex != nil && tandem.SameVerdict(shown.ex, ex) && sameTriage(shown.triage, t) {
			return detailLoaded{ex: ex, unchanged: true}
		}
		d := detailModel{sh: sh, id: shown.id, ex: ex, triage: t}
		d.build()
		return detailLoaded{ex: ex, triage: t, lines: d.lines, diffLine: d.diffLine, diffTarget: d.diffTarget}
	}
}

// ignore writes an ignore rule for the pattern into the rules file and
// re-judges the stored exchanges under the new rules: the endpoint's, or
// all of them when a new rule was appended (it may take requests that no
// rule matched before).
func ignore(sh *shared, endpoint, pattern string) tea.Cmd {
	rulesPath := sh.rulesPath
	return func() tea.Msg {
		msg := ignoredMsg{endpoint: endpoint, pattern: pattern, file: rulesPath}
		if rulesPath == "" {
			msg.err = fmt.Errorf("no rules file: start tandem tui with --rules FILE to write ignore rules")
			return msg
		}
		before, err := os.ReadFile(rulesPath)
		if err != nil && !os.IsNotExist(err) {
			msg.err = fmt.Errorf("read rules: %w", err)
			return msg
		}
		ed, err := rules.AddIgnoreFile(rulesPath, endpoint, pattern)
		if err != nil {
			msg.err = err
			return msg
		}
		msg.before, msg.after, msg.changed, msg.newRule, msg.line = before, ed.Data, ed.Changed, ed.NewRule, ed.Line
		msg.res, msg.err = rediff(sh, ed.Set, endpoint, ed.NewRule)
		return msg
	}
}

// undoIgnore puts back the rules file as it was before the last ignore, if
// nobody changed it since, and re-judges again.
func undoIgnore(sh *shared, last ignoredMsg) tea.Cmd {
	return func() tea.Msg {
		msg := last
		msg.undo, msg.res, msg.err = true, nil, nil
		now, err := os.ReadFile(last.file)
		if err != nil {
			msg.err = fmt.Errorf("undo: %w", err)
			return msg
		}
		if !bytes.Equal(now, last.after) {
			msg.err = fmt.Errorf("undo: %s changed since the ignore was added; edit it by hand", last.file)
			return msg
		}
		if err := rules.WriteFile(last.file, last.before); err != nil {
			msg.err = fmt.Errorf("undo: %w", err)
			return msg
		}
		rs, err := rules.Parse(last.file, last.before)
		if err != nil {
			msg.err = fmt.Errorf("undo: %w", err)
			return msg
		}
		msg.res, msg.err = rediff(sh, rs, last.endpoint, last.newRule)
		return msg
	}
}

// rediff runs under the program's context: quitting the UI stops it
// (batches already committed stay re-judged; the one in flight is rolled
// back).
func rediff(sh *shared, rs *rules.Set, endpoint string, all bool) (*store.RediffResult, error) {
	f := store.Filter{Endpoint: endpoint}
	if all {
		f = store.Filter{}
	}
	res, err := sh.rediff(sh.ctx, f, rs.Apply, 0)
	if err != nil {
		return res, fmt.Errorf("re-judge: %w", err)
	}
	return res, nil
}

// summary says what an ignore did, the counts first: at 80 columns the
// status line may cut the end, where the file and line are.
func (m ignoredMsg) summary() string {
	var b strings.Builder
	switch {
	case m.undo:
		fmt.Fprintf(&b, "undone: %s no longer ignored for %s", m.pattern, m.endpoint)
	case !m.changed:
		fmt.Fprintf(&b, "%s was already ignored for %s", m.pattern, m.endpoint)
	default:
		fmt.Fprintf(&b, "ignored %s for %s", m.pattern, m.endpoint)
	}
	if m.res != nil {
		fmt.Fprintf(&b, ": re-judged %d, %d changed", m.res.Exchanges, m.res.Changed)
		keys := make([]string, 0, len(m.res.Transitions))
		for k := range m.res.Transitions {
			keys = append(keys, fmt.Sprintf("%s %d", k, m.res.Transitions[k]))
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(keys, ", "))
		}
	}
	if m.undo {
		fmt.Fprintf(&b, " · %s restored", m.file)
	} else {
		fmt.Fprintf(&b, " · %s:%d", m.file, m.line)
	}
	return b.String()
}

func triageExchange(sh *shared, id int64, t store.Triage) tea.Cmd {
	return func() tea.Msg {
		err := sh.db.SetExchangeTriage(sh.ctx, id, t)
		return triagedMsg{what: fmt.Sprintf("exchange #%d: %s", id, describe(t)), err: err}
	}
}

func triagePattern(sh *shared, endpoint, pattern string, t store.Triage) tea.Cmd {
	return func() tea.Msg {
		err := sh.db.SetPatternTriage(sh.ctx, endpoint, pattern, t)
		return triagedMsg{what: fmt.Sprintf("%s in %s: %s", pattern, endpoint, describe(t)), err: err}
	}
}

func describe(t store.Triage) string {
	if t.Note != "" {
		return string(t.State) + " (" + t.Note + ")"
	}
	return string(t.State)
}

// copyExchange loads an exchange (when ex is nil) and copies its curl
// command.
func copyExchange(sh *shared, id int64, ex *tandem.Exchange) tea.Cmd {
	return func() tea.Msg {
		if ex == nil {
			var err error
			if ex, err = sh.db.Exchange(sh.ctx, id); err != nil {
				return copiedMsg{err: err}
			}
		}
		lines := curlLines(&ex.Request)
		c := strings.Join(lines, " ")
		return copiedMsg{curl: c, shown: strings.Join(lines, " \\\n"), err: sh.clip(c)}
	}
}
