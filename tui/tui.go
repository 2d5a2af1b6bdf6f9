// Package tui is tandem's triage UI: endpoints, the patterns at which they
// differ, their exchanges and each exchange side by side; ignore rules
// written into the rules file and re-judged at a key; triage decisions
// stored with the exchanges; live while a proxy records.
package tui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/tandemproxy/tandem/store"
)

// DefaultRefresh is how often the active view reloads from the database.
const DefaultRefresh = time.Second

// Options configure the UI.
type Options struct {
	DB *store.DB
	// RulesPath is the rules file that ignore rules are written to (it is
	// created if missing); "" disables them.
	RulesPath string
	// Refresh is how often the active view reloads: 0 means
	// DefaultRefresh, a negative value never (tests send the ticks).
	Refresh time.Duration
	// Renderer makes the styles; nil is lipgloss's default renderer
	// (which honours NO_COLOR).
	Renderer *lipgloss.Renderer
	// Clipboard receives the curl commands that y copies; nil copies
	// nothing (they are still shown).
	Clipboard func(text string) error
}

// view is one of the four screens.
type view int

const (
	endpointsView view = iota
	fieldsView
	exchangesView
	detailView
	views // how many there are
)

// chrome is the lines around a list: title, summary, column headers,
// footer, status.
const chrome = 5

// shared is what every view reads and none changes.
type shared struct {
	// ctx is the program's: commands run under it, so that quitting
	// cancels what they still do (a re-judge of many exchanges).
	ctx       context.Context
	db        *store.DB
	rulesPath string
	st        styles
	keys      keyMap
	clip      func(string) error
	// rediff re-judges stored exchanges: db.Rediff (tests wrap it to
	// hold a re-judge at work while the user quits).
	rediff func(ctx context.Context, f store.Filter, apply store.Reapply, batch int) (*store.RediffResult, error)
}

// Model is the root model: the active view, the four views, the shared
// size, and what floats over them (prompt, help, curl, status).
type Model struct {
	sh      *shared
	refresh time.Duration
	// state is the active view; under are the views it was opened over,
	// the one back goes to last (screen.go: push, pop).
	state view
	under []view

	endpoints endpointsModel
	fields    fieldsModel
	exchanges exchangesModel
	detail    detailModel

	width, height int
	loading       [views]bool // a reload of that view is in flight

	prompt prompt
	help   bool
	curl   string // the copied curl command, shown over the view until a key is pressed
	status statusMsg
	busy   bool        // an ignore rule is being written and re-judged
	last   *ignoredMsg // the last ignore, for undo
	// err is fatal: the database could not be read at all.
	err error
}

// New returns the UI's model, on the endpoints view.
func New(o Options) Model {
	r := o.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	clip := o.Clipboard
	if clip == nil {
		clip = func(string) error { return nil }
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	sh := &shared{ctx: context.Background(), db: o.DB, rulesPath: o.RulesPath, st: newStyles(r), keys: newKeyMap(), clip: clip,
		rediff: o.DB.Rediff}
	m := Model{sh: sh, refresh: o.Refresh, endpoints: newEndpoints(sh)}
	m.loading[endpointsView] = true
	return m
}

// Run runs the UI on a terminal until the user quits or ctx is done.
func Run(ctx context.Context, o Options, in io.Reader, out io.Writer) error {
	if o.Renderer == nil {
		o.Renderer = lipgloss.NewRenderer(out)
	}
	if o.Clipboard == nil {
		o.Clipboard = func(s string) error { return osc52(out, s) }
	}
	final, err := run(ctx, New(o), in, out)
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	return final.err
}

// run runs m as a program whose commands share a context that ends with
// it: when the user quits, a command still at work (a re-judge) stops.
func run(ctx context.Context, m Model, in io.Reader, out io.Writer) (Model, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.sh.ctx = ctx
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out),
		tea.WithAltScreen(), tea.WithMouseCellMotion())
	final, err := p.Run()
	if f, ok := final.(Model); ok {
		m = f
	}
	return m, err
}

// Init loads the endpoints and starts the live refresh.
func (m Model) Init() tea.Cmd { return tea.Batch(loadEndpoints(m.sh), m.tick()) }

func (m Model) tick() tea.Cmd {
	if m.refresh < 0 {
		return nil
	}
	return tea.Tick(m.refresh, func(time.Time) tea.Msg { return tickMsg{} })
}

// reload reloads the active view unless a reload of it is in flight.
func (m *Model) reload() tea.Cmd {
	if m.loading[m.state] {
		return nil
	}
	m.loading[m.state] = true
	return m.screen(m.state).load()
}

// ignoreRequest asks the root to write an ignore rule (one at a time).
type ignoreRequest struct{ endpoint, pattern string }

// askNote asks the root to prompt for a triage note.
type askNoteMsg struct {
	triage store.Triage
	save   func(store.Triage) tea.Cmd
}

func askNote(t store.Triage, save func(store.Triage) tea.Cmd) tea.Cmd {
	return navigate(askNoteMsg{triage: t, save: save})
}

// Update routes a message: sizes to every view, results to the view they
// are for, requests to open a view to the screen stack, keys first to
// what floats over the views and the global keys, then to the active view.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		for v := range views {
			m.screen(v).handle(msg)
		}
		return m, nil
	case tickMsg:
		return m, tea.Batch(m.reload(), m.tick())
	case statusMsg:
		m.status = msg
		return m, nil
	case endpointsLoaded:
		return m.loaded(endpointsView, msg, msg.err)
	case fieldsLoaded:
		return m.loaded(fieldsView, msg, msg.err)
	case exchangesLoaded:
		return m.loaded(exchangesView, msg, msg.err)
	case detailLoaded:
		return m.loaded(detailView, msg, msg.err)
	case opener:
		m.push(msg.open(&m))
		return m.opened()
	case tea.KeyMsg:
		return m.keys(msg)
	case tea.MouseMsg:
		if m.help || m.curl != "" {
			return m, nil
		}
		return m.toActive(msg)
	}
	return m.act(msg)
}

// act carries out what the views ask of the root and what comes of it:
// ignore rules, triage, copies and the note prompt.
func (m Model) act(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case ignoreRequest:
		if m.busy {
			m.status = statusMsg{text: "still re-judging the last ignore; try again when it is done", err: true}
			return m, nil
		}
		m.busy = true
		m.status = statusMsg{text: fmt.Sprintf("ignoring %s for %s: writing the rule, re-judging stored exchanges…", msg.pattern, msg.endpoint)}
		return m, ignore(m.sh, msg.endpoint, msg.pattern)
	case ignoredMsg:
		m.busy = false
		if msg.err != nil {
			return m.failed(msg.err), nil
		}
		m.status = statusMsg{text: msg.summary()}
		switch {
		case msg.undo:
			m.last = nil
		case msg.changed:
			m.last = &msg
		}
		return m, m.reloadAll()
	case triagedMsg:
		if msg.err != nil {
			return m.failed(msg.err), nil
		}
		m.status = statusMsg{text: "triage: " + msg.what}
		return m, m.reloadAll()
	case copiedMsg:
		if msg.err != nil {
			return m.failed(fmt.Errorf("copy: %w", msg.err)), nil
		}
		m.curl = msg.shown
		m.status = statusMsg{text: "curl command copied to the clipboard (OSC 52)"}
		return m, nil
	case askNoteMsg:
		m.prompt = prompt{kind: notePrompt, label: "note: ", value: []rune(msg.triage.Note), triage: msg.triage, save: msg.save}
		m.prompt.pos = len(m.prompt.value)
		return m, nil
	}
	return m, nil
}

// keys handles a key message. Keys typed faster than they are read arrive
// as one message ("qq"): outside a prompt, each is a command of its own.
func (m Model) keys(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type != tea.KeyRunes || len(msg.Runes) < 2 || msg.Paste || m.prompt.kind != noPrompt {
		return m.key(msg)
	}
	var cmds []tea.Cmd
	var next tea.Model = m
	for _, r := range msg.Runes {
		var cmd tea.Cmd
		next, cmd = next.(Model).key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		cmds = append(cmds, cmd)
	}
	return next, tea.Batch(cmds...)
}

// loaded hands a view the result of its reload (which may be for an
// earlier scope: the view checks). Endpoints that cannot be read before
// any were shown are fatal: the database cannot be read at all.
func (m Model) loaded(v view, msg tea.Msg, err error) (tea.Model, tea.Cmd) {
	m.loading[v] = false
	if v == endpointsView && err != nil && m.endpoints.report == nil {
		m.err = err
	}
	m.screen(v).handle(msg)
	return m.failed(err), nil
}

func (m Model) failed(err error) Model {
	if err != nil {
		m.status = statusMsg{text: err.Error(), err: true}
	}
	return m
}

// opened sizes the view just pushed and loads it.
func (m Model) opened() (tea.Model, tea.Cmd) {
	next, _ := m.toActive(tea.WindowSizeMsg{Width: m.width, Height: m.height})
	m = next.(Model)
	m.loading[m.state] = false
	return m, m.reload()
}

// reloadAll reloads what a change to the database affects: the endpoints
// and the active view.
func (m *Model) reloadAll() tea.Cmd {
	cmds := []tea.Cmd{m.reload()}
	if m.state != endpointsView {
		m.loading[endpointsView] = true
		cmds = append(cmds, loadEndpoints(m.sh))
	}
	return tea.Batch(cmds...)
}

func (m Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.sh.keys
	if key.Matches(msg, k.Quit) {
		return m, tea.Quit
	}
	switch {
	case m.err != nil:
		return m, tea.Quit
	case m.prompt.kind != noPrompt:
		return m.promptKey(msg)
	case m.curl != "":
		m.curl = ""
		return m, nil
	case m.help:
		m.help = false
		return m, nil
	case key.Matches(msg, k.Help):
		m.help = true
		return m, nil
	case key.Matches(msg, k.Filter) && m.filterable():
		m.prompt = prompt{kind: filterPrompt, label: "/", value: []rune(m.filterText()), previous: m.filterText()}
		m.prompt.pos = len(m.prompt.value)
		return m, nil
	case key.Matches(msg, k.Undo):
		if m.busy {
			m.status = statusMsg{text: "still re-judging; try again when it is done", err: true}
			return m, nil
		}
		if m.last == nil {
			m.status = statusMsg{text: "nothing to undo", err: true}
			return m, nil
		}
		m.busy = true
		return m, undoIgnore(m.sh, *m.last)
	case key.Matches(msg, k.Back):
		if msg.String() == "esc" && m.filterText() != "" {
			m.setFilter("")
			return m, nil
		}
		return m.back()
	}
	return m.toActive(msg)
}

// back leaves the active view for the one under it (quits from the
// endpoints).
func (m Model) back() (tea.Model, tea.Cmd) {
	m.status = statusMsg{}
	if !m.pop() {
		return m, tea.Quit
	}
	m.loading[m.state] = false
	return m, m.reload()
}

func (m Model) toActive(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.screen(m.state).handle(msg)
	return m, cmd
}

func (m *Model) filterable() bool {
	_, ok := m.screen(m.state).(filterable)
	return ok
}

// filterText is the active view's filter as typed ("" for the detail).
func (m *Model) filterText() string {
	if f, ok := m.screen(m.state).(filterable); ok {
		return f.typed()
	}
	return ""
}

func (m *Model) setFilter(s string) {
	if f, ok := m.screen(m.state).(filterable); ok {
		f.filterBy(s)
	}
}

// View draws the screen: exactly height lines, none wider than width.
func (m Model) View() string {
	if m.width == 0 || m.height == 0 {
		return ""
	}
	st := &m.sh.st
	if m.err != nil {
		return m.frame([]string{st.errText.Render(fit("tandem: "+m.err.Error(), m.width, false)), "", "press any key to quit"})
	}
	if m.help {
		return m.frame(m.helpLines())
	}
	s := m.screen(m.state)
	header, body, footer := s.header(), s.view(), s.footer()
	if m.curl != "" {
		body = m.curlBox()
	}
	lines := []string{st.title.Render(m.titleLine()), fit(header, m.width, false)}
	lines = append(lines, strings.Split(body, "\n")...)
	lines = append(lines, fit(clean(footer), m.width, false), m.statusLine())
	return m.frame(lines)
}

// frame pads or cuts lines to the screen's height.
func (m Model) frame(lines []string) string {
	for len(lines) < m.height {
		lines = append(lines, "")
	}
	return strings.Join(lines[:m.height], "\n")
}

func (m Model) breadcrumb() string {
	parts := append([]string{"tandem", "endpoints"}, m.screen(m.state).crumbs()...)
	return clean(strings.Join(parts, " › "))
}

// titleLine is the breadcrumb, and on a sorted view how it is sorted, at
// the right when there is room.
func (m Model) titleLine() string {
	left, right := m.breadcrumb(), ""
	if s, ok := m.screen(m.state).(sorter); ok {
		right = s.sortText()
	}
	if right == "" {
		// Where the user is matters more than how they got there: a
		// breadcrumb too long for the line loses its start.
		if w := ansi.StringWidth(left); w > m.width && m.width > 1 {
			left = "…" + ansi.TruncateLeft(left, w-(m.width-1), "")
		}
		return fit(left, m.width, false)
	}
	gap := m.width - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 2 {
		return fit(left, m.width, false)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m Model) statusLine() string {
	st := &m.sh.st
	switch {
	case m.prompt.kind != noPrompt:
		return fit(m.prompt.view(), m.width, false)
	case m.status.text != "" && m.status.err:
		return st.errText.Render(fit(clean(m.status.text), m.width, false))
	case m.status.text != "":
		return st.status.Render(fit(clean(m.status.text), m.width, false))
	}
	var parts []string
	for _, b := range m.sh.keys.short(m.state) {
		parts = append(parts, b.Help().Key+" "+b.Help().Desc)
	}
	return st.help.Render(fit(strings.Join(parts, " · "), m.width, false))
}

func (m Model) helpLines() []string {
	st := &m.sh.st
	lines := []string{st.title.Render(fit("tandem triage: keys (any key closes)", m.width, false))}
	var col []string
	for _, g := range m.sh.keys.full() {
		col = append(col, st.section.Render(g.title))
		for _, b := range g.keys {
			col = append(col, fmt.Sprintf("  %-11s %s", b.Help().Key, b.Help().Desc))
		}
	}
	// Two columns when one does not fit.
	room := m.height - 4
	if len(col) > room && m.width >= 80 {
		half := (len(col) + 1) / 2
		w := m.width / 2
		for i := 0; i < half; i++ {
			right := ""
			if i+half < len(col) {
				right = col[i+half]
			}
			lines = append(lines, fit(col[i], w, false)+fit(right, m.width-w, false))
		}
	} else {
		for _, l := range col {
			lines = append(lines, fit(l, m.width, false))
		}
	}
	lines = append(lines, "")
	for _, para := range []string{
		"Filter: " + filterHelp,
		"Mouse: the wheel scrolls the lists and the detail.",
		"Triage: open, bug or accepted, per exchange (a, b, o on an exchange) or per pattern (on a field); an exchange without a decision of its own takes its patterns'.",
		"Rules file: " + cmp.Or(m.sh.rulesPath, "none"),
	} {
		for _, l := range strings.Split(ansi.Wordwrap(clean(para), m.width, " "), "\n") {
			lines = append(lines, fit(l, m.width, false))
		}
	}
	return lines
}

// curlBox shows the copied command a part per line, ending in
// backslashes, so that it can also be copied from the screen; a part wider
// than the screen is cut into lines.
func (m Model) curlBox() string {
	st := &m.sh.st
	lines := []string{st.section.Render(fit("curl (copied to the clipboard; any key closes)", m.width, false)), ""}
	for i, part := range strings.Split(m.curl, "\n") {
		indent := "  "
		if i > 0 {
			indent = "    "
		}
		w := max(10, m.width-len(indent))
		for s := []rune(clean(part)); len(s) > 0; {
			n := min(len(s), w)
			lines = append(lines, fit(indent+string(s[:n]), m.width, false))
			s = s[n:]
		}
	}
	h := max(1, m.height-chrome+1)
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines[:h], "\n")
}
