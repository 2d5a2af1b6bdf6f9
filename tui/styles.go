package tui

import "github.com/charmbracelet/lipgloss"

// styles are every style the UI uses, made by one renderer: the terminal's
// (which honours NO_COLOR and the terminal's colour support) or, in tests,
// one without colour. Whatever a style conveys is also said in text (a
// gutter mark, a word), so that nothing is lost without colour.
type styles struct {
	title, crumb, header, selected, dim, help, status, errText  lipgloss.Style
	removed, added, changed, noise, bug, accepted, key, section lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	s := r.NewStyle
	return styles{
		title:    s().Bold(true).Foreground(lipgloss.Color("12")),
		crumb:    s().Foreground(lipgloss.Color("12")),
		header:   s().Bold(true).Underline(true),
		selected: s().Reverse(true),
		dim:      s().Faint(true),
		help:     s().Faint(true),
		status:   s().Foreground(lipgloss.Color("11")),
		errText:  s().Foreground(lipgloss.Color("9")).Bold(true),
		removed:  s().Foreground(lipgloss.Color("9")),
		added:    s().Foreground(lipgloss.Color("10")),
		changed:  s().Foreground(lipgloss.Color("11")),
		noise:    s().Faint(true),
		bug:      s().Foreground(lipgloss.Color("9")).Bold(true),
		accepted: s().Foreground(lipgloss.Color("10")),
		key:      s().Bold(true),
		section:  s().Bold(true).Foreground(lipgloss.Color("12")),
	}
}
