package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key binding; the help view and the footer are made from
// it, so what they say is what the keys do.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom, Left, Right key.Binding
	Open, Back, Quit, Help, Filter                       key.Binding
	Sort, Reverse, Exchanges                             key.Binding
	NextDiff, PrevDiff                                   key.Binding
	Ignore, Undo, Accept, Bug, Reopen, Note, Copy        key.Binding
	Pause, Rollback                                      key.Binding // cutover
}

func newKeyMap() keyMap {
	b := func(keys []string, help, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Up:        b([]string{"up", "k"}, "↑/k", "up"),
		Down:      b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:    b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:  b([]string{"pgdown", "ctrl+f", " "}, "pgdn/space", "page down"),
		Top:       b([]string{"home", "g"}, "home/g", "top"),
		Bottom:    b([]string{"end", "G"}, "end/G", "bottom"),
		Left:      b([]string{"left", "h"}, "←/h", "scroll left (detail)"),
		Right:     b([]string{"right", "l"}, "→/l", "scroll right (detail)"),
		Open:      b([]string{"enter"}, "enter", "open"),
		Back:      b([]string{"esc", "q"}, "q/esc", "back/quit"),
		Quit:      b([]string{"ctrl+c"}, "ctrl+c", "quit"),
		Help:      b([]string{"?"}, "?", "help"),
		Filter:    b([]string{"/"}, "/", "filter"),
		Sort:      b([]string{"s"}, "s", "sort"),
		Reverse:   b([]string{"r"}, "r", "reverse"),
		Exchanges: b([]string{"x"}, "x", "all exchanges"),
		NextDiff:  b([]string{"tab"}, "tab", "next difference"),
		PrevDiff:  b([]string{"shift+tab"}, "shift+tab", "previous difference"),
		Ignore:    b([]string{"i"}, "i", "ignore pattern"),
		Undo:      b([]string{"u"}, "u", "undo ignore"),
		Accept:    b([]string{"a"}, "a", "accepted"),
		Bug:       b([]string{"b"}, "b", "bug"),
		Reopen:    b([]string{"o"}, "o", "open"),
		Note:      b([]string{"n"}, "n", "note"),
		Copy:      b([]string{"y"}, "y", "copy curl"),
		Pause:     b([]string{"p"}, "p", "pause cutover"),
		Rollback:  b([]string{"R"}, "R", "roll back cutover"),
	}
}

// helpGroup is a titled list of bindings in the help view.
type helpGroup struct {
	title string
	keys  []key.Binding
}

// full returns every binding, grouped, for the help view.
func (k keyMap) full() []helpGroup {
	return []helpGroup{
		{"Move", []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Left, k.Right}},
		{"Views", []key.Binding{k.Open, k.Exchanges, k.Back, k.Quit, k.Help, k.Filter, k.Sort, k.Reverse}},
		{"Detail", []key.Binding{k.NextDiff, k.PrevDiff, k.Copy}},
		{"Triage", []key.Binding{k.Ignore, k.Undo, k.Accept, k.Bug, k.Reopen, k.Note}},
		{"Cutover (endpoints)", []key.Binding{k.Pause, k.Rollback}},
	}
}

// short returns the footer's bindings for a view, described in a word or
// two so that the line fits 80 columns (the help view says it in full).
func (k keyMap) short(v view) []key.Binding {
	ignore, accept, curl := brief(k.Ignore, "ignore"), brief(k.Accept, "accept"), brief(k.Copy, "curl")
	back := brief(k.Back, "back")
	switch v {
	case endpointsView:
		return []key.Binding{k.Open, k.Exchanges, k.Sort, k.Filter, k.Help, brief(k.Back, "quit")}
	case fieldsView:
		return []key.Binding{k.Open, ignore, accept, k.Bug, k.Filter, k.Help, back}
	case exchangesView:
		return []key.Binding{k.Open, accept, k.Bug, curl, k.Filter, k.Help, back}
	default:
		return []key.Binding{brief(k.NextDiff, "next diff"), ignore, accept, k.Bug, curl, k.Help, back}
	}
}

// brief returns the binding described as desc.
func brief(b key.Binding, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(b.Keys()...), key.WithHelp(b.Help().Key, desc))
}
