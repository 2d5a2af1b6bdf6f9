package tui

import tea "github.com/charmbracelet/bubbletea"

// list is what the three list views (endpoints, fields, exchanges) share:
// their rows in a table, the filter that selects them and the size.
type list struct {
	filter filter
	// filterText is the filter as typed.
	filterText string
	table      table
	width      int
	height     int
}

func newList(cols ...column) list { return list{table: table{cols: cols}} }

// sizeAndScroll fits the table to the screen, less the chrome around it,
// and scrolls it with the wheel; other messages are the view's.
func (l *list) sizeAndScroll(msg tea.Msg) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		l.width, l.height = msg.Width, msg.Height
		l.table.setSize(msg.Width, msg.Height-chrome)
	case tea.MouseMsg:
		l.table.mouse(msg)
	}
}

// typed is the filter as the user typed it.
func (l *list) typed() string { return l.filterText }

// setFilterText makes s the filter; the view then rebuilds its rows.
func (l *list) setFilterText(s string) { l.filterText, l.filter = s, parseFilter(s) }
