package tui

import (
	"strconv"
	"strings"

	"github.com/tandemproxy/tandem/store"
)

// filterHelp explains the filter syntax in the help view.
const filterHelp = "words match names, URLs, patterns and notes; outcome:mismatch status:500 (or 5xx) state:bug narrow exchanges, state: also fields"

// noMatch is the footer of a list whose filter hides every row.
const noMatch = "nothing matches the filter (esc clears it)"

// filter is a parsed "/" filter: free words (all must appear) and
// field:value terms.
type filter struct {
	words                  []string
	outcome, status, state string
}

func parseFilter(s string) filter {
	var f filter
	for _, w := range strings.Fields(strings.ToLower(s)) {
		k, v, ok := strings.Cut(w, ":")
		switch {
		case ok && k == "outcome":
			f.outcome = v
		case ok && k == "status":
			f.status = v
		case ok && (k == "state" || k == "triage"):
			f.state = v
		default:
			f.words = append(f.words, w)
		}
	}
	return f
}

// text reports whether every word appears in one of the texts.
func (f filter) text(texts ...string) bool {
	for _, w := range f.words {
		found := false
		for _, t := range texts {
			if strings.Contains(strings.ToLower(t), w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (f filter) triage(s store.TriageState) bool {
	return f.state == "" || strings.HasPrefix(string(s), f.state)
}

// exchange reports whether a listed exchange passes the filter.
func (f filter) exchange(s *store.Summary) bool {
	if f.outcome != "" && !strings.HasPrefix(string(s.Outcome), f.outcome) {
		return false
	}
	if f.status != "" && !statusMatch(f.status, s.LegacyStatus) && !statusMatch(f.status, s.CandidateStatus) {
		return false
	}
	if !f.triage(s.State) {
		return false
	}
	texts := append([]string{s.Method, s.URL, s.Triage.Note, string(s.Outcome)}, s.Patterns...)
	return f.text(append(texts, s.NoisePatterns...)...)
}

// statusMatch matches "500" exactly and "5xx" by class.
func statusMatch(want string, status int) bool {
	got := strconv.Itoa(status)
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != 'x' && want[i] != got[i] {
			return false
		}
	}
	return true
}

func (f filter) empty() bool {
	return len(f.words) == 0 && f.outcome == "" && f.status == "" && f.state == ""
}
