package tui

import (
	"cmp"
	"fmt"
	"slices"

	tea "github.com/charmbracelet/bubbletea"
)

// screen is what the root asks of every view. The four views implement it
// through their pointers, so the root picks the active one once
// (Model.screen) instead of switching on the view wherever it routes a
// message, reloads, draws, titles or filters.
type screen interface {
	// handle passes a message to the view, which changes in place (a
	// tea.WindowSizeMsg resizes it).
	handle(msg tea.Msg) tea.Cmd
	// load reads what the view shows from the database.
	load() tea.Cmd
	// crumbs say where the view is, after "tandem › endpoints", for the
	// title line's breadcrumb.
	crumbs() []string
	header() string
	view() string
	footer() string
}

// sorter is a screen whose rows the user sorts (the endpoints): the title
// line says how, at its right ("" while there is nothing to sort).
type sorter interface {
	sortText() string
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
	_ sorter     = (*endpointsModel)(nil)
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

func (m *endpointsModel) handle(msg tea.Msg) tea.Cmd { return handleBy(m, endpointsModel.update, msg) }
func (m *fieldsModel) handle(msg tea.Msg) tea.Cmd    { return handleBy(m, fieldsModel.update, msg) }
func (m *exchangesModel) handle(msg tea.Msg) tea.Cmd { return handleBy(m, exchangesModel.update, msg) }
func (m *detailModel) handle(msg tea.Msg) tea.Cmd    { return handleBy(m, detailModel.update, msg) }

// handleBy changes *m in place by update, which returns the view's
// concrete type (bubbletea's way: STYLE.md).
func handleBy[M any](m *M, update func(M, tea.Msg) (M, tea.Cmd), msg tea.Msg) (cmd tea.Cmd) {
	*m, cmd = update(*m, msg)
	return cmd
}

func (m *endpointsModel) crumbs() []string { return nil }
func (m *fieldsModel) crumbs() []string    { return []string{m.endpoint} }
func (m *exchangesModel) crumbs() []string { return m.scope.crumbs() }

// crumbs name the list that a detail was opened from, so that its
// breadcrumb keeps the way there (a re-judge may rename the exchange's
// endpoint).
func (m *detailModel) crumbs() []string { return append(m.from.crumbs(), fmt.Sprintf("#%d", m.id)) }

func (sc scope) crumbs() []string { return []string{sc.endpoint, cmp.Or(sc.pattern, "all exchanges")} }

func (m *endpointsModel) load() tea.Cmd { return loadEndpoints(m.sh) }
func (m *fieldsModel) load() tea.Cmd    { return loadFields(m.sh, m.endpoint) }
func (m *exchangesModel) load() tea.Cmd { return loadExchanges(m.sh, m.scope) }
func (m *detailModel) load() tea.Cmd    { return loadDetail(m.sh, *m) }

// typed comes with the list (list.go).
func (m *endpointsModel) filterBy(s string) { m.setFilterText(s); m.rebuild() }
func (m *fieldsModel) filterBy(s string)    { m.setFilterText(s); m.rebuild() }
func (m *exchangesModel) filterBy(s string) { m.setFilterText(s); m.rebuild() }

// The screen stack: m.state is the active view, m.under the views it was
// opened over, the next to go back to last.

// push makes v the active view, over the active one. The views are
// ordered (endpoints, fields, exchanges, detail) and each opens over one
// before it: opening one that is not deeper (all exchanges, from an
// exchanges list) first leaves the views down to where it can open, so
// that back returns where the list was first opened from.
func (m *Model) push(v view) {
	for m.state >= v && m.pop() {
	}
	// A copy, not an append into an array that an earlier Model shares.
	m.under = append(slices.Clip(m.under), m.state)
	m.state = v
}

// pop goes back to the view under the active one; there is none under
// the endpoints.
func (m *Model) pop() bool {
	n := len(m.under)
	if n == 0 {
		return false
	}
	m.state, m.under = m.under[n-1], m.under[:n-1]
	return true
}

// opener is a view's request to open another over it.
type opener interface {
	// open makes the view in m and says which it is.
	open(m *Model) view
}

func (o openFields) open(m *Model) view {
	m.fields = newFields(m.sh, o.endpoint)
	return fieldsView
}

func (o openExchanges) open(m *Model) view {
	m.exchanges = newExchanges(m.sh, o.scope)
	return exchangesView
}

func (o openDetail) open(m *Model) view {
	m.detail = newDetail(m.sh, o.id, o.from)
	return detailView
}
