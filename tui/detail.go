package tui

import (
	"cmp"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// dline is a line of the detail view: text, or a side-by-side row.
type dline struct {
	text  string
	style *lipgloss.Style
	// Side-by-side rows: the two texts and their marks (same, changed,
	// removed, added); sideBySide says the row is one.
	sideBySide  bool
	left, right string
	mark        byte
	scrolls     bool // a body row: moves with the horizontal scroll
}

// detailModel is the fourth view: one exchange in full.
type detailModel struct {
	sh     *shared
	id     int64
	from   scope // the list the detail was opened from
	ex     *tandem.Exchange
	triage store.Triage
	lines  []dline
	// diffLine[i] is the line of difference i in the differences list,
	// diffTarget[i] the line that shows it (in the bodies or headers).
	diffLine, diffTarget []int
	sel                  int // selected difference, -1 for none
	offset, xoff         int
	width, height        int
}

func newDetail(sh *shared, id int64, from scope) detailModel {
	return detailModel{sh: sh, id: id, from: from, sel: -1}
}

// detailChrome is the lines around the detail's scrolling content.
const detailChrome = 4

func (m detailModel) update(msg tea.Msg) (detailModel, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clamp()
	case detailLoaded:
		if msg.err == nil && !msg.unchanged && msg.ex.ID == m.id {
			m.ex, m.triage = msg.ex, msg.triage
			m.lines, m.diffLine, m.diffTarget = msg.lines, msg.diffLine, msg.diffTarget
			m.sel = min(m.sel, len(m.ex.Differences)-1)
			m.clamp()
		}
	case tea.KeyMsg:
		if m.ex == nil {
			return m, nil
		}
		k := m.sh.keys
		page := max(1, m.height-detailChrome)
		switch {
		case key.Matches(msg, k.Up):
			m.offset--
		case key.Matches(msg, k.Down):
			m.offset++
		case key.Matches(msg, k.PageUp):
			m.offset -= page
		case key.Matches(msg, k.PageDown):
			m.offset += page
		case key.Matches(msg, k.Top):
			m.offset = 0
		case key.Matches(msg, k.Bottom):
			m.offset = len(m.lines)
		case key.Matches(msg, k.Left):
			m.xoff = max(0, m.xoff-hstep)
		case key.Matches(msg, k.Right):
			m.xoff += hstep
		case key.Matches(msg, k.NextDiff):
			m.selectDiff(+1)
		case key.Matches(msg, k.PrevDiff):
			m.selectDiff(-1)
		case key.Matches(msg, k.Ignore):
			if m.sel < 0 {
				return m, status("select a difference first (tab), then press i", true)
			}
			return m, navigate(ignoreRequest{m.ex.Endpoint, m.ex.Differences[m.sel].Pattern})
		case key.Matches(msg, k.Accept, k.Bug, k.Reopen, k.Note):
			return m, triageKey(msg, k, m.triage, func(t store.Triage) tea.Cmd { return triageExchange(m.sh, m.id, t) })
		case key.Matches(msg, k.Copy):
			return m, copyExchange(m.sh, m.id, m.ex)
		}
		m.clamp()
	case tea.MouseMsg:
		m.offset += wheel(msg)
		m.clamp()
	}
	return m, nil
}

func sameTriage(a, b store.Triage) bool {
	return a.State == b.State && a.Note == b.Note && a.Updated.Equal(b.Updated)
}

// hstep is how far left and right scroll the bodies.
const hstep = 8

// maxPathWidth bounds the path column of the differences list.
const maxPathWidth = 40

func status(text string, err bool) tea.Cmd {
	return func() tea.Msg { return statusMsg{text: text, err: err} }
}

func (m *detailModel) clamp() {
	page := max(1, m.height-detailChrome)
	m.offset = max(0, min(m.offset, len(m.lines)-page))
}

// selectDiff selects the next (or previous) difference and scrolls to
// where it shows.
func (m *detailModel) selectDiff(step int) {
	n := len(m.ex.Differences)
	if n == 0 {
		return
	}
	switch {
	case m.sel < 0 && step < 0:
		m.sel = n - 1
	case m.sel < 0:
		m.sel = 0
	default:
		m.sel = (m.sel + step + n) % n
	}
	target := m.diffTarget[m.sel]
	if target < 0 {
		target = m.diffLine[m.sel]
	}
	page := max(1, m.height-detailChrome)
	if target < m.offset || target >= m.offset+page {
		m.offset = target - page/3
	}
}

func (m *detailModel) add(text string, style *lipgloss.Style) {
	m.lines = append(m.lines, dline{text: text, style: style})
}

// addWide adds a line that moves with the horizontal scroll, so that what
// the screen cuts can be read.
func (m *detailModel) addWide(text string) {
	m.lines = append(m.lines, dline{text: text, scrolls: true})
}

// build lays the exchange out: a summary line, the request, the status,
// the differences, the headers and the bodies side by side, then where
// each difference shows. Everything shown is what the store kept:
// redacted values stay redacted.
func (m *detailModel) build() {
	st := &m.sh.st
	m.lines = nil
	m.addSummary()
	m.addRequest()
	m.add("", nil)
	statusLine := len(m.lines)
	m.addStatus()
	m.add("", nil)
	m.addDifferences()
	m.add("", nil)
	m.add("Headers: legacy │ candidate", &st.section)
	headerLine := len(m.lines)
	names := m.headerRows()
	m.add("", nil)
	m.add("Bodies: legacy │ candidate (JSON pretty-printed, keys sorted; ~ changed, - legacy only, + candidate only)", &st.section)
	bodies := m.addBodies()
	m.diffTarget = make([]int, len(m.ex.Differences))
	for i, d := range m.ex.Differences {
		m.diffTarget[i] = -1
		switch {
		case d.Pattern == "status":
			m.diffTarget[i] = statusLine
		case strings.HasPrefix(d.Path, "header:"):
			for j, n := range names {
				if strings.EqualFold(n, strings.TrimPrefix(d.Path, "header:")) {
					m.diffTarget[i] = headerLine + j
				}
			}
		default:
			m.diffTarget[i] = bodies.target(d.Path)
		}
	}
}

// addSummary adds the title line (what, where, when, triage) and the
// exchange's error.
func (m *detailModel) addSummary() {
	ex, st := m.ex, &m.sh.st
	m.add(fmt.Sprintf("#%d · %s · %s · %s · triage: %s", ex.ID, ex.Endpoint, ex.Outcome, ex.Time.UTC().Format("2006-01-02 15:04:05 UTC"), describe(m.triage)), &st.title)
	if ex.Error != "" {
		m.lines = append(m.lines, dline{text: "error: " + ex.Error, style: &st.errText, scrolls: true})
	}
}

// addRequest adds the request: line, host, headers and body.
func (m *detailModel) addRequest() {
	req := &m.ex.Request
	m.add("", nil)
	m.add("Request", &m.sh.st.section)
	m.addWide("  " + req.Method + " " + req.URL)
	if req.Host != "" {
		m.addWide("  Host: " + req.Host)
	}
	for _, h := range req.Header {
		if !strings.EqualFold(h.Name, "Host") {
			m.addWide("  " + h.Name + ": " + h.Value)
		}
	}
	if len(req.Body) > 0 {
		m.add("", nil)
		for _, l := range bodyLines(&tandem.Response{Body: req.Body, Header: req.Header}) {
			m.lines = append(m.lines, dline{text: "  " + l.text, scrolls: true})
		}
	}
}

// addStatus adds both statuses and latencies, and the secondary's.
func (m *detailModel) addStatus() {
	ex, st := m.ex, &m.sh.st
	m.add(fmt.Sprintf("Status %s → %s · latency legacy %s, candidate %s", statusOf(&ex.Legacy), statusOf(&ex.Candidate), dur(ex.Legacy.Latency), dur(ex.Candidate.Latency)), &st.section)
	if s := ex.Secondary; s != nil {
		m.add(fmt.Sprintf("  secondary legacy: %s, %s; noisy patterns: %s", statusOf(s), dur(s.Latency), cmp.Or(strings.Join(ex.NoisePatterns, " "), "none")), &st.dim)
	}
}

// addDifferences adds the list of differences, a line each (recorded in
// diffLine), their paths in a column.
func (m *detailModel) addDifferences() {
	diffs, st := m.ex.Differences, &m.sh.st
	m.add(fmt.Sprintf("Differences (%d)", len(diffs)), &st.section)
	m.diffLine = make([]int, len(diffs))
	pathW := 0
	for _, d := range diffs {
		pathW = min(max(pathW, ansi.StringWidth(d.Path)), maxPathWidth)
	}
	for i, d := range diffs {
		m.diffLine[i] = len(m.lines)
		noise := ""
		if d.Noise {
			noise = " (noise)"
		}
		m.addWide(fmt.Sprintf("%s %-7s %s%s", fit(clean(d.Path), pathW, false), d.Kind, example(d.Legacy, d.Candidate), noise))
	}
	if len(diffs) == 0 {
		m.add("  none", &st.dim)
	}
}

// laidBodies is where the bodies were laid out: their lines, aligned in
// pairs, from view line start.
type laidBodies struct {
	left, right []bodyLine
	pairs       []pair
	start       int
}

// addBodies adds the two bodies side by side, aligned.
func (m *detailModel) addBodies() laidBodies {
	b := laidBodies{left: bodyLines(&m.ex.Legacy), right: bodyLines(&m.ex.Candidate), start: len(m.lines)}
	b.pairs = align(b.left, b.right)
	for _, p := range b.pairs {
		l := dline{sideBySide: true, scrolls: true, mark: p.kind}
		if p.l >= 0 {
			l.left = b.left[p.l].text
		}
		if p.r >= 0 {
			l.right = b.right[p.r].text
		}
		m.lines = append(m.lines, l)
	}
	return b
}

// target returns the view line of the body row that shows a difference at
// path (a JSON path, or text:N for line N), or -1.
func (b laidBodies) target(path string) int {
	switch {
	case strings.HasPrefix(path, "$"):
		// The first row showing path or a value inside it.
		within := func(p string) bool {
			return p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[")
		}
		for j, p := range b.pairs {
			if (p.l >= 0 && within(b.left[p.l].path)) || (p.r >= 0 && within(b.right[p.r].path)) {
				return b.start + j
			}
		}
	case strings.HasPrefix(path, "text:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(path, "text:"))
		for j, p := range b.pairs {
			if p.l == n-1 || p.r == n-1 {
				return b.start + j
			}
		}
	}
	return -1
}

// headerRows adds the response headers side by side, one row per name,
// and returns the names in row order.
func (m *detailModel) headerRows() []string {
	var names []string
	seen := map[string]bool{}
	for _, hs := range []tandem.Headers{m.ex.Legacy.Header, m.ex.Candidate.Header} {
		for _, h := range hs {
			n := http.CanonicalHeaderKey(h.Name)
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		lv, rv := m.ex.Legacy.Header.Values(n), m.ex.Candidate.Header.Values(n)
		l := dline{sideBySide: true, scrolls: true, mark: same}
		if lv != nil {
			l.left = n + ": " + strings.Join(lv, ", ")
		}
		if rv != nil {
			l.right = n + ": " + strings.Join(rv, ", ")
		}
		switch {
		case lv == nil:
			l.mark = added
		case rv == nil:
			l.mark = removed
		case l.left != l.right:
			l.mark = changed
		}
		m.lines = append(m.lines, l)
	}
	if len(names) == 0 {
		m.add("  none", &m.sh.st.dim)
	}
	return names
}

func statusOf(r *tandem.Response) string {
	if r.Err != "" {
		return "error"
	}
	return fmt.Sprint(r.Status)
}

// dur formats a latency in milliseconds.
func dur(d time.Duration) string {
	return ms(float64(d.Microseconds())/1000) + " ms"
}

func (m detailModel) header() string {
	if m.ex == nil {
		return "loading…"
	}
	s := fmt.Sprintf("lines %d-%d of %d", m.offset+1, min(m.offset+m.height-detailChrome, len(m.lines)), len(m.lines))
	if m.xoff > 0 {
		s += fmt.Sprintf(", from column %d", m.xoff+1)
	}
	return s + " · tab: next difference · ←/→: scroll sideways"
}

func (m detailModel) footer() string {
	if m.ex == nil {
		return ""
	}
	if m.sel < 0 {
		switch n := len(m.ex.Differences); n {
		case 0:
			return "0 differences"
		case 1:
			return "1 difference · tab selects it; i ignores its pattern"
		default:
			return fmt.Sprintf("%d differences · tab selects one; i ignores its pattern", n)
		}
	}
	d := m.ex.Differences[m.sel]
	return fmt.Sprintf("difference %d/%d: %s (%s) %s · i: ignore %s", m.sel+1, len(m.ex.Differences), d.Path, d.Kind, example(d.Legacy, d.Candidate), d.Pattern)
}

func (m detailModel) view() string {
	st := &m.sh.st
	page := max(1, m.height-detailChrome)
	var b strings.Builder
	for i := m.offset; i < m.offset+page; i++ {
		if i > m.offset {
			b.WriteByte('\n')
		}
		if i >= len(m.lines) {
			continue
		}
		l := m.lines[i]
		if !l.sideBySide {
			text := clean(l.text)
			if l.scrolls {
				text = ansi.TruncateLeft(text, m.xoff, "")
			}
			mark := ""
			for j, dl := range m.diffLine {
				if dl == i {
					mark = "  "
					if j == m.sel {
						mark = "> "
					}
				}
			}
			if i == m.target() {
				mark = "▶ "
			}
			text = fit(mark+text, m.width, false)
			switch {
			case mark == "> ":
				text = st.selected.Render(text)
			case l.style != nil:
				text = l.style.Render(text)
			}
			b.WriteString(text)
			continue
		}
		b.WriteString(m.sideBySide(l, i == m.target()))
	}
	return b.String()
}

// target returns the line that shows the selected difference (in the
// bodies, the headers or the status), or -1.
func (m detailModel) target() int {
	if m.sel < 0 || m.sel >= len(m.diffTarget) {
		return -1
	}
	return m.diffTarget[m.sel]
}

// sideBySide renders a two-column row: each side its mark, then its text
// (scrolled horizontally for body rows), cut to half the width; the row
// of the selected difference has arrows at its middle bar.
func (m detailModel) sideBySide(l dline, target bool) string {
	st := &m.sh.st
	colW := max(4, (m.width-3)/2)
	side := func(text string, mark byte, present bool) string {
		if !present {
			mark = ' '
		}
		text = clean(text)
		if l.scrolls {
			text = ansi.TruncateLeft(text, m.xoff, "")
		}
		s := fit(string(mark)+" "+text, colW, false)
		switch mark {
		case removed:
			return st.removed.Render(s)
		case added:
			return st.added.Render(s)
		case changed:
			return st.changed.Render(s)
		}
		return s
	}
	lm, rm := l.mark, l.mark
	if lm == added {
		lm = ' '
	}
	if rm == removed {
		rm = ' '
	}
	bar := " │ "
	if target {
		bar = "▶│◀"
	}
	return side(l.left, lm, l.mark != added) + bar + side(l.right, rm, l.mark != removed)
}
