package tui

import tea "github.com/charmbracelet/bubbletea"

// screen is what the root asks of every view. The four views implement it
// through their pointers, so the root picks the active one once
// (Model.screen) instead of switching on the view wherever it routes a
// message, reloads, draws or filters.
type screen interface {
	// handle passes a message to the view, which changes in place.
	handle(msg tea.Msg) tea.Cmd
	// load reads what the view shows from the database.
	load() tea.Cmd
	header() string
	view() string
	footer() string
}

// filterable is a screen with a filter (every list; not the detail).
type filterable interface {
	screen
	// typed is the filter as the user typed it.
	typed() string
	// filterBy keeps the rows that s selects.
	filterBy(s string)
}

var (
	_ filterable = (*endpointsModel)(nil)
	_ filterable = (*fieldsModel)(nil)
	_ filterable = (*exchangesModel)(nil)
	_ screen     = (*detailModel)(nil)
)

// screen returns the view v; the pointer is into m.
func (m *Model) screen(v view) screen {
	switch v {
	case fieldsView:
		return &m.fields
	case exchangesView:
		return &m.exchanges
	case detailView:
		return &m.detail
	}
	return &m.endpoints
}

func (m *endpointsModel) handle(msg tea.Msg) (cmd tea.Cmd) {
	*m, cmd = m.update(msg)
	return cmd
}

func (m *fieldsModel) handle(msg tea.Msg) (cmd tea.Cmd) {
	*m, cmd = m.update(msg)
	return cmd
}

func (m *exchangesModel) handle(msg tea.Msg) (cmd tea.Cmd) {
	*m, cmd = m.update(msg)
	return cmd
}

func (m *detailModel) handle(msg tea.Msg) (cmd tea.Cmd) {
	*m, cmd = m.update(msg)
	return cmd
}

func (m *endpointsModel) load() tea.Cmd { return loadEndpoints(m.sh) }
func (m *fieldsModel) load() tea.Cmd    { return loadFields(m.sh, m.endpoint) }
func (m *exchangesModel) load() tea.Cmd { return loadExchanges(m.sh, m.scope) }
func (m *detailModel) load() tea.Cmd    { return loadDetail(m.sh, *m) }

func (m *endpointsModel) typed() string { return m.filterText }
func (m *fieldsModel) typed() string    { return m.filterText }
func (m *exchangesModel) typed() string { return m.filterText }

func (m *endpointsModel) filterBy(s string) { m.filterText = s; m.setFilter(parseFilter(s)) }
func (m *fieldsModel) filterBy(s string)    { m.filterText = s; m.setFilter(parseFilter(s)) }
func (m *exchangesModel) filterBy(s string) { m.filterText = s; m.setFilter(parseFilter(s)) }
