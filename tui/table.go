package tui

import (
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
// of the end as fits ("GET …/{repo}/labels").
func fitMiddle(s string, width int) string {
	w := ansi.StringWidth(s)
	if w <= width || width < 8 {
		return fit(s, width, false)
	}
	head := min(strings.IndexByte(s, ' ')+1, width/2)
	if head <= 0 {
		head = (width - 1) / 2
	}
	return ansi.Truncate(s, head, "") + "…" + ansi.TruncateLeft(s, w-(width-1-head), "")
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
}

// setRows replaces the rows, keeping the cursor on the row with the same
// key (or at the same position when it is gone) and the scroll offset
// where it was.
func (t *table) setRows(rows []row) {
	var cur string
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
// cursor mark, one between columns.
func (t *table) widths() []int {
	ws := make([]int, len(t.cols))
	free := t.width - 2 - (len(t.cols) - 1)
	flex := 0
	for i, c := range t.cols {
		ws[i] = c.width
		free -= c.width
		flex += c.flex
	}
	free = max(free, 0)
	left := free
	for i, c := range t.cols {
		if c.flex > 0 {
			ws[i] = free * c.flex / flex
			left -= ws[i]
		}
	}
	for i := len(t.cols) - 1; i >= 0; i-- {
		if t.cols[i].flex > 0 {
			ws[i] += left
			break
		}
	}
	return ws
}

func (t *table) view(st styles) string {
	ws := t.widths()
	var b strings.Builder
	cells := make([]string, len(t.cols))
	for i, c := range t.cols {
		cells[i] = fit(c.title, ws[i], c.right)
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
