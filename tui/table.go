package tui

import (
	"slices"
	"strings"
	"unicode"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// clean makes stored text safe to print: control characters (an escape
// sequence in a body could drive the terminal) become visible, tabs
// become spaces.
func clean(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r == '\n':
			b.WriteString("⏎")
		case unicode.IsControl(r):
			b.WriteRune('�')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fit truncates plain text to width cells (with an ellipsis) and pads it.
func fit(s string, width int, right bool) string {
	if width <= 0 {
		return ""
	}
	s = ansi.Truncate(s, width, "…")
	pad := strings.Repeat(" ", max(0, width-ansi.StringWidth(s)))
	if right {
		return pad + s
	}
	return s + pad
}

// fitMiddle truncates in the middle, keeping the first word and as much
// of the end as fits, from a "/" when it can ("GET …/{repo}/labels").
func fitMiddle(s string, width int) string {
	w := ansi.StringWidth(s)
	if w <= width || width < 8 {
		return fit(s, width, false)
	}
	head := min(strings.IndexByte(s, ' ')+1, width/2)
	if head <= 0 {
		head = (width - 1) / 2
	}
	tail := ansi.TruncateLeft(s, w-(width-1-head), "")
	// Start the end at a path segment when that loses only a few
	// characters: a whole segment reads better than a part of one.
	if i := strings.IndexByte(tail, '/'); i > 0 && i <= 3 {
		tail = tail[i:]
	}
	return ansi.Truncate(s, head, "") + "…" + tail
}

// column is a table column: a fixed width, or a share of what the fixed
// columns leave (flex).
type column struct {
	title  string
	width  int
	flex   int
	right  bool
	middle bool // truncate in the middle
}

// row is a table row; key identifies it across reloads, so that the
// cursor stays on the same item when the data is refreshed.
type row struct {
	key   string
	cells []string
	style *lipgloss.Style // nil: plain
}

// table is the list under the three list views: a cursor, a scroll
// offset and a fixed number of visible rows.
type table struct {
	cols           []column
	rows           []row
	cursor, offset int
	width, height  int // height: rows shown, header excluded
	// sorted is 1 + the column the rows are sorted by (0: none shown);
	// ascending says which way.
	sorted    int
	ascending bool
}

// setRows replaces the rows, keeping the cursor on the row with the same
// key (or at the same position when it is gone). A scrolled list scrolls
// with it, so that rows a refresh adds above do not move the selected one
// on the screen; a list at its top stays there, so that new rows show as
// they come.
func (t *table) setRows(rows []row) {
	var cur string
	was := t.cursor
	if t.cursor < len(t.rows) {
		cur = t.rows[t.cursor].key
	}
	t.rows = rows
	for i, r := range rows {
		if r.key == cur {
			t.cursor = i
			break
		}
	}
	if t.offset > 0 {
		t.offset += t.cursor - was
	}
	t.clamp()
}

func (t *table) selected() (row, bool) {
	if t.cursor < len(t.rows) {
		return t.rows[t.cursor], true
	}
	return row{}, false
}

func (t *table) move(delta int) {
	t.cursor += delta
	t.clamp()
}

func (t *table) scroll(delta int) {
	t.offset += delta
	t.cursor += delta
	t.clamp()
}

// clamp keeps the cursor on a row and visible.
func (t *table) clamp() {
	t.cursor = max(0, min(t.cursor, len(t.rows)-1))
	h := max(1, t.height)
	t.offset = max(0, min(t.offset, len(t.rows)-h))
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if t.cursor >= t.offset+h {
		t.offset = t.cursor - h + 1
	}
}

func (t *table) setSize(width, height int) {
	t.width, t.height = width, max(1, height)
	t.clamp()
}

// widths lays the columns out in the table's width: two cells for the
// cursor mark, one between columns. Flex columns share what the fixed ones
// leave, by weight, but none gets more than its widest cell needs: on a
// wide terminal the numbers stay next to the names they belong to, and a
// narrow column's unused share goes to the others.
func (t *table) widths() []int {
	ws := make([]int, len(t.cols))
	free := t.width - 2 - (len(t.cols) - 1)
	var open []int // flex columns not yet given their width
	for i, c := range t.cols {
		ws[i] = t.titleWidth(i)
		if c.flex > 0 {
			open = append(open, i)
			continue
		}
		ws[i] = max(c.width, ws[i])
		free -= ws[i]
	}
	free = max(free, 0)
	need := t.needs()
	for len(open) > 0 {
		weight := 0
		for _, i := range open {
			weight += t.cols[i].flex
		}
		// Columns that need less than their share take what they need;
		// the others share the rest on the next round.
		var rest []int
		for _, i := range open {
			if need[i] <= free*t.cols[i].flex/weight {
				ws[i] = need[i]
			} else {
				rest = append(rest, i)
			}
		}
		if len(rest) == len(open) {
			left := free
			for _, i := range open {
				ws[i] = free * t.cols[i].flex / weight
				left -= ws[i]
			}
			ws[open[len(open)-1]] += left
			break
		}
		for _, i := range open {
			if !slices.Contains(rest, i) {
				free -= ws[i]
			}
		}
		open = rest
	}
	return ws
}

// needs returns the width of each column's widest cell or title.
func (t *table) needs() []int {
	need := make([]int, len(t.cols))
	for i := range t.cols {
		need[i] = t.titleWidth(i)
	}
	for _, r := range t.rows {
		for i, v := range r.cells {
			if i < len(need) {
				need[i] = max(need[i], ansi.StringWidth(clean(v)))
			}
		}
	}
	return need
}

// title returns a column's title with the sort mark when the table is
// sorted by it.
func (t *table) title(i int) string {
	if t.sorted == i+1 {
		if t.ascending {
			return t.cols[i].title + "▲"
		}
		return t.cols[i].title + "▼"
	}
	return t.cols[i].title
}

func (t *table) titleWidth(i int) int { return ansi.StringWidth(t.title(i)) }

func (t *table) view(st styles) string {
	ws := t.widths()
	var b strings.Builder
	cells := make([]string, len(t.cols))
	for i, c := range t.cols {
		cells[i] = fit(t.title(i), ws[i], c.right)
	}
	b.WriteString(st.header.Render(fit("  "+strings.Join(cells, " "), t.width, false)))
	for i := t.offset; i < t.offset+t.height; i++ {
		b.WriteByte('\n')
		if i >= len(t.rows) {
			continue
		}
		r := t.rows[i]
		for j, c := range t.cols {
			v := ""
			if j < len(r.cells) {
				v = clean(r.cells[j])
			}
			if c.middle {
				cells[j] = fit(fitMiddle(v, ws[j]), ws[j], c.right)
			} else {
				cells[j] = fit(v, ws[j], c.right)
			}
		}
		mark := "  "
		if i == t.cursor {
			mark = "> "
		}
		line := fit(mark+strings.Join(cells, " "), t.width, false)
		switch {
		case i == t.cursor:
			line = st.selected.Render(line)
		case r.style != nil:
			line = r.style.Render(line)
		}
		b.WriteString(line)
	}
	return b.String()
}

// keys moves the cursor.
func (t *table) keys(msg tea.KeyMsg, k keyMap) {
	switch {
	case key.Matches(msg, k.Up):
		t.move(-1)
	case key.Matches(msg, k.Down):
		t.move(1)
	case key.Matches(msg, k.PageUp):
		t.move(-t.height)
	case key.Matches(msg, k.PageDown):
		t.move(t.height)
	case key.Matches(msg, k.Top):
		t.move(-len(t.rows))
	case key.Matches(msg, k.Bottom):
		t.move(len(t.rows))
	}
}

// wheelStep is how many rows or lines a mouse wheel notch scrolls.
const wheelStep = 3

// wheel returns the scroll of a mouse wheel event (0 for other events).
func wheel(msg tea.MouseMsg) int {
	if msg.Action != tea.MouseActionPress {
		return 0
	}
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		return -wheelStep
	case tea.MouseButtonWheelDown:
		return wheelStep
	}
	return 0
}

func (t *table) mouse(msg tea.MouseMsg) {
	if d := wheel(msg); d != 0 {
		t.scroll(d)
	}
}
