package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

var sizes = []struct{ w, h int }{{80, 24}, {120, 40}}

// TestGolden snapshots every view at 80×24 and 120×40.
func TestGolden(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			f := newFixture(t)
			h := newHarness(t, f, sz.w, sz.h)
			snap := func(name string) {
				t.Helper()
				s := h.screen()
				checkSize(t, s, sz.w, sz.h)
				golden(t, fmt.Sprintf("%s-%dx%d", name, sz.w, sz.h), s)
			}
			snap("endpoints")
			h.keys("enter")
			snap("fields")
			h.keys("enter")
			snap("exchanges")
			h.keys("enter")
			snap("detail")
			h.keys("tab", "tab")
			snap("detail-difference")
			h.keys("y")
			snap("curl")
			h.keys("esc", "?")
			snap("help")
		})
	}
}

func TestEndpoints(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 120, 40)
	order := func() []string {
		var out []string
		for _, r := range h.m.endpoints.table.rows {
			out = append(out, r.key)
		}
		return out
	}
	// Worst first: most mismatches.
	if got, want := order(), []string{"GET /api/users/{id}", "GET /api/orders", "GET /health"}; !slices.Equal(got, want) {
		t.Errorf("default order %q, want %q", got, want)
	}
	h.contains("11 requests · 11 compared · 8 mismatched", "100.0", "5.1/7.2", "sorted worst first")
	h.lacks("▼", "▲") // worst first weighs two columns: neither is marked
	h.keys("s")       // by name, A to Z
	h.contains("sorted by endpoint, A to Z", "ENDPOINT▲")
	if got, want := order(), []string{"GET /api/orders", "GET /api/users/{id}", "GET /health"}; !slices.Equal(got, want) {
		t.Errorf("by name %q, want %q", got, want)
	}
	h.keys("r")
	h.contains("sorted by endpoint, Z to A", "ENDPOINT▼")
	if got := order(); got[0] != "GET /health" {
		t.Errorf("reversed by name %q", got)
	}
	h.keys("s", "s", "s", "s") // candidate errors, highest first (reversal is reset by s)
	h.contains("sorted by candidate errors, highest first", "C.ERR▼")
	h.lacks("ENDPOINT▼")
	if got := order(); got[0] != "GET /api/orders" {
		t.Errorf("by candidate errors %q", got)
	}
	h.keys("s", "s")
	h.contains("sorted worst first")

	// The trend: the users' mismatches came in minutes 0 to 2.
	// Eight one-minute spans end with the last minute recorded (5).
	if got := sparkline(h.m.endpoints.trend["GET /api/users/{id}"]); got != "  ███   " {
		t.Errorf("users' trend %q", got)
	}

	// The cursor and the filter.
	h.keys("down")
	if r, _ := h.m.endpoints.table.selected(); r.key != "GET /api/orders" {
		t.Errorf("selected %q after down", r.key)
	}
	h.contains("GET /api/orders · 0 matched · 1 mismatched · 1 candidate errors")
	h.keys("/", "nothing-like-this")
	h.contains("nothing matches the filter")
	h.keys("esc", "/", "hea")
	h.contains("/hea█")
	if got := order(); !slices.Equal(got, []string{"GET /health"}) {
		t.Errorf("filtered %q", got)
	}
	h.keys("enter") // keeps the filter, closes the prompt
	h.lacks("/hea█")
	h.keys("esc") // clears it
	if got := order(); len(got) != 3 {
		t.Errorf("after esc %q", got)
	}
	// x lists every exchange of the endpoint.
	h.keys("home", "x")
	if h.m.state != exchangesView || h.m.exchanges.scope != (scope{endpoint: "GET /api/users/{id}"}) || len(h.m.exchanges.rows) != 6 {
		t.Errorf("x: view %d, scope %+v, %d rows", h.m.state, h.m.exchanges.scope, len(h.m.exchanges.rows))
	}
	h.keys("q")
	if h.m.state != endpointsView {
		t.Errorf("q from the exchanges went to view %d, want the endpoints", h.m.state)
	}
	h.keys("q")
	if !h.quit {
		t.Error("q on the endpoints did not quit")
	}
}

func TestFields(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 120, 40)
	h.keys("enter")
	if h.m.state != fieldsView || h.m.fields.endpoint != "GET /api/users/{id}" {
		t.Fatalf("enter: view %d, endpoint %q", h.m.state, h.m.fields.endpoint)
	}
	h.contains("$.price", "66.7", `10 → "10"`, "$.nickname", `(none) → "u"`, "noisy 100%", "3 patterns: 3 open · 0 bug · 0 accepted")

	// Triage per pattern: b, a, o, and a note.
	ctx := context.Background()
	h.keys("b")
	h.contains("triage: $.price in GET /api/users/{id}: bug", "3 patterns: 2 open · 1 bug · 0 accepted")
	h.keys("n", "type changed in v2", "enter")
	pt, err := f.db.PatternTriage(ctx, "GET /api/users/{id}")
	if err != nil {
		t.Fatal(err)
	}
	if got := pt["$.price"]; got.State != store.TriageBug || got.Note != "type changed in v2" {
		t.Errorf("$.price triage %+v", got)
	}
	h.contains("note: type changed in v2")
	h.keys("down", "a")
	if pt, _ = f.db.PatternTriage(ctx, "GET /api/users/{id}"); pt["$.nickname"].State != store.TriageAccepted {
		t.Errorf("$.nickname triage %+v", pt["$.nickname"])
	}
	h.keys("o")
	if pt, _ = f.db.PatternTriage(ctx, "GET /api/users/{id}"); len(pt) != 1 {
		t.Errorf("reopening $.nickname left %+v", pt)
	}
	// The filter narrows by text and by state.
	h.keys("/", "state:bug", "enter")
	if n := len(h.m.fields.table.rows); n != 1 || h.m.fields.table.rows[0].key != "$.price" {
		t.Errorf("state:bug shows %d rows", n)
	}
	h.keys("esc", "/", "state:accepted")
	h.contains("nothing matches the filter")
	h.keys("esc") // cancels the prompt: no filter
	// enter lists the pattern's exchanges.
	h.keys("home", "enter")
	if h.m.state != exchangesView || h.m.exchanges.scope.pattern != "$.price" || len(h.m.exchanges.rows) != 4 {
		t.Errorf("enter on $.price: view %d, scope %+v, %d rows", h.m.state, h.m.exchanges.scope, len(h.m.exchanges.rows))
	}
	// The pattern's bug is every one of its exchanges' state.
	h.contains("4 of 4 shown · 0 open · 4 bug · 0 accepted")
	h.keys("esc")
	if h.m.state != fieldsView {
		t.Errorf("esc from the exchanges went to view %d, want the fields", h.m.state)
	}
}

func TestExchanges(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 120, 40)
	h.keys("down", "x") // GET /api/orders, all exchanges
	h.contains("2 of 2 shown", "200→err", "200→500", "cand error", "dial tcp")
	h.keys("/", "status:5xx")
	if n := h.m.exchanges.shown; n != 1 {
		t.Errorf("status:5xx shows %d", n)
	}
	h.keys("backspace", "backspace", "backspace", "4xx")
	h.contains("0 of 2 shown", "nothing matches the filter (esc clears it)")
	h.lacks("no stored exchanges here")
	h.keys("backspace", "backspace", "backspace", "5xx")
	h.keys("esc", "/", "outcome:cand", "enter")
	if s, _ := h.m.exchanges.selected(); h.m.exchanges.shown != 1 || s.Outcome != tandem.CandidateError {
		t.Errorf("outcome:cand shows %d, selected %+v", h.m.exchanges.shown, s)
	}
	h.keys("esc")
	// Triage one exchange, with a note.
	h.keys("home")
	s, _ := h.m.exchanges.selected()
	h.keys("a", "n", "expected", "enter")
	tr, err := f.db.ExchangeTriage(context.Background(), s.ID)
	if err != nil || tr.State != store.TriageAccepted || tr.Note != "expected" {
		t.Errorf("exchange %d triage %+v, %v", s.ID, tr, err)
	}
	h.contains("1 open · 0 bug · 1 accepted")
	h.keys("/", "state:open", "enter")
	if h.m.exchanges.shown != 1 {
		t.Errorf("state:open shows %d", h.m.exchanges.shown)
	}
	h.keys("esc", "/", "expected", "enter") // free text finds the note
	if h.m.exchanges.shown != 1 {
		t.Errorf("a note's text shows %d", h.m.exchanges.shown)
	}
	h.keys("esc")
	// y copies a curl command without loading the detail.
	h.keys("y")
	if len(h.clip) != 1 || !strings.HasPrefix(h.clip[0], "curl 'http://api.example/api/orders?page=") {
		t.Errorf("clipboard %q", h.clip)
	}
	h.contains("curl (copied to the clipboard", "curl command copied")
	h.keys("x") // any key closes the command
	h.lacks("curl (copied")
}

func TestDetail(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 16)
	h.keys("down", "x", "enter") // GET /api/orders?page=2: status, header and text differences
	if h.m.state != detailView {
		t.Fatalf("view %d", h.m.state)
	}
	d := &h.m.detail
	if len(d.ex.Differences) != 3 {
		t.Fatalf("differences %+v", d.ex.Differences)
	}
	h.contains("Status 200 → 500", "latency legacy 8.0 ms, candidate 30 ms", "Differences (3)")
	// tab walks the differences and scrolls to where each shows.
	// The line that shows the selected difference is marked.
	h.keys("tab")
	h.contains("difference 1/3: status (changed) 200 → 500", "▶ Status 200 → 500")
	h.keys("tab")
	h.contains("difference 2/3: header:Content-Type", "~ Content-Type: text/plain", "▶│◀~ Content-Type: text/html")
	h.lacks("▶ Status")
	h.keys("tab")
	h.contains("difference 3/3: text:2 (changed) none⏎ → error⏎", "~ none", "▶│◀~ error")
	h.keys("tab")
	h.contains("difference 1/3")
	h.keys("shift+tab")
	h.contains("difference 3/3")
	// Scrolling: keys, pages, the mouse wheel, and sideways for bodies.
	h.keys("home")
	if d.offset != 0 {
		t.Errorf("home: offset %d", d.offset)
	}
	h.keys("down", "down")
	if d.offset != 2 {
		t.Errorf("down down: offset %d", d.offset)
	}
	h.send(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	if d.offset != 5 {
		t.Errorf("wheel down: offset %d", d.offset)
	}
	h.send(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelUp})
	h.keys("end")
	if want := len(d.lines) - (16 - detailChrome); d.offset != want {
		t.Errorf("end: offset %d, want %d (the last page)", d.offset, want)
	}
	h.keys("pgup")
	if want := len(d.lines) - 2*(16-detailChrome); d.offset != max(0, want) {
		t.Errorf("pgup: offset %d, want %d", d.offset, max(0, want))
	}
	// Bodies and headers scroll sideways (what the columns cut can be
	// read); section titles stay.
	h.keys("end")
	h.contains("  orders ", "~ none ", "~ Content-Type: text/plain", "Bodies: legacy")
	h.keys("right")
	h.lacks("  orders ", "~ none ", "Content-Type")
	h.contains("~  ", "~ Type: text/plain", "Bodies: legacy", "from column 9")
	h.keys("left")
	h.contains("  orders ", "~ none ", "~ Content-Type: text/plain")
	h.lacks("from column")
	// Triage the exchange from its detail.
	h.keys("b")
	h.contains("triage: exchange #8: bug", "lines 11-22") // reloaded, scrolled where it was
	h.keys("home")
	h.contains("#8 · GET /api/orders · mismatch · 2024-05-01 12:03:30 UTC · triage: bug")
	if tr, _ := f.db.ExchangeTriage(context.Background(), d.id); tr.State != store.TriageBug {
		t.Errorf("triage %+v", tr)
	}
	// A breadcrumb too long for the screen keeps its end: where one is.
	h.send(tea.WindowSizeMsg{Width: 30, Height: 16})
	if top := strings.Split(h.screen(), "\n")[0]; top != "…i/orders › all exchanges › #8" {
		t.Errorf("title line at 30 columns: %q", top)
	}
	h.send(tea.WindowSizeMsg{Width: 80, Height: 16})
	h.keys("esc")
	if h.m.state != exchangesView {
		t.Errorf("esc from the detail went to view %d", h.m.state)
	}
}

// TestDetail_Refresh: a refresh lays the exchange out again only when its
// verdict or triage changed (bodies of megabytes take long to lay out),
// and keeps the scroll position.
func TestDetail_Refresh(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 24)
	h.keys("enter", "enter", "enter", "down", "down", "down")
	d := &h.m.detail
	if d.ex == nil || d.offset != 3 {
		t.Fatalf("detail %v, offset %d", d.ex != nil, d.offset)
	}
	d.lines[0].text = "laid out before the tick"
	h.send(tickMsg{})
	if d.lines[0].text != "laid out before the tick" || d.offset != 3 {
		t.Errorf("an unchanged exchange was laid out again (%q) or scrolled (offset %d)", d.lines[0].text, d.offset)
	}
	// Another process triages it: the next tick shows it.
	if err := f.db.SetExchangeTriage(context.Background(), d.id, store.Triage{State: store.TriageBug, Note: "seen elsewhere"}); err != nil {
		t.Fatal(err)
	}
	h.send(tickMsg{})
	if !strings.Contains(d.lines[0].text, "triage: bug (seen elsewhere)") || d.offset != 3 {
		t.Errorf("after a triage elsewhere: %q, offset %d", d.lines[0].text, d.offset)
	}
}

// TestDetail_LongBody: a large body stays usable: every line is there,
// the screen stays the terminal's size, and tab finds a difference deep in
// it.
func TestDetail_LongBody(t *testing.T) {
	f := newFixture(t)
	var items []string
	for i := range 2000 {
		items = append(items, fmt.Sprintf(`{"id":%d,"label":"%s"}`, i, strings.Repeat("x", 150)))
	}
	legacy := "[" + strings.Join(items, ",") + "]"
	candidate := strings.Replace(legacy, `{"id":1500,`, `{"id":"1500",`, 1)
	f.record(t, &tandem.Exchange{Request: tandem.Request{Method: "GET", URL: "/api/orders"},
		Legacy: jsonResp(200, legacy, time.Millisecond), Candidate: jsonResp(200, candidate, time.Millisecond)})
	h := newHarness(t, f, 80, 24)
	h.keys("/", "orders", "enter", "x", "enter")
	d := &h.m.detail
	if d.ex == nil || len(d.ex.Differences) != 1 {
		t.Fatalf("detail %+v", d.ex)
	}
	h.keys("tab")
	h.contains(`~     "id": 1500,`, `~     "id": "1500",`)
	checkSize(t, h.screen(), 80, 24)
	if d.offset < 1500*4 {
		t.Errorf("offset %d: the difference is past line %d", d.offset, 1500*4)
	}
}

func TestIgnore(t *testing.T) {
	ctx := context.Background()
	t.Run("Field", func(t *testing.T) {
		f := newFixture(t)
		h := newHarness(t, f, 120, 40)
		h.keys("enter", "down") // GET /api/users/{id}: $.nickname
		h.keys("i")
		got, _ := os.ReadFile(f.rules)
		want := strings.Replace(testRules, `["$.updatedAt"]   #`, `["$.updatedAt", "$.nickname"]   #`, 1)
		if string(got) != want {
			t.Fatalf("rules file:\n%s\nwant:\n%s", got, want)
		}
		h.contains("ignored $.nickname for GET /api/users/{id}: re-judged 6, 2 changed (mismatch→noise 2) · rules.yaml:9")
		// The exchanges were re-judged: $.nickname is gone, and the
		// fields view shows it.
		n := 0
		f.db.Exchanges(ctx, store.Filter{Pattern: "$.nickname"}, func(*tandem.Exchange) error { n++; return nil })
		if n != 0 {
			t.Errorf("%d exchanges still differ at $.nickname", n)
		}
		for _, r := range h.m.fields.table.rows {
			if r.key == "$.nickname" {
				t.Error("the fields still list $.nickname")
			}
		}
		h.contains("2 patterns")
		// u takes it back: file and verdicts.
		h.keys("u")
		if got, _ := os.ReadFile(f.rules); string(got) != testRules {
			t.Errorf("after undo:\n%s", got)
		}
		f.db.Exchanges(ctx, store.Filter{Pattern: "$.nickname"}, func(*tandem.Exchange) error { n++; return nil })
		if n != 2 {
			t.Errorf("%d exchanges differ at $.nickname after undo, want 2", n)
		}
		h.contains("undone: $.nickname no longer ignored")
		h.keys("u")
		h.contains("nothing to undo")
	})
	t.Run("DifferenceWithNewRule", func(t *testing.T) {
		f := newFixture(t)
		h := newHarness(t, f, 80, 24)
		h.keys("end", "enter", "enter", "enter") // GET /health (no rule) › $.status › the exchange
		h.keys("i")
		h.contains("select a difference first")
		h.keys("tab", "i")
		got, _ := os.ReadFile(f.rules)
		if want := testRules + "  - match: GET /health\n    ignore: [\"$.status\"]\n"; string(got) != want {
			t.Fatalf("rules file:\n%s\nwant:\n%s", got, want)
		}
		r, err := f.db.Report(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.Endpoints {
			if e.Endpoint == "GET /health" && (e.Mismatched != 0 || e.Matched != 3) {
				t.Errorf("GET /health after the ignore: %+v", e)
			}
		}
		h.contains("0 differences")
		if !strings.HasSuffix(h.m.status.text, "re-judged 9, 1 changed (mismatch→match 1) · rules.yaml:11") {
			t.Errorf("status %q", h.m.status.text)
		}
		// Back on the endpoints, the counts are the new ones.
		h.keys("esc", "esc", "esc")
		h.contains("11 compared · 7 mismatched")
	})
	t.Run("HeaderAndStatus", func(t *testing.T) {
		f := newFixture(t)
		h := newHarness(t, f, 80, 24)
		h.keys("down", "x")
		h.keys("/", "status:500", "enter", "enter", "tab", "tab", "i")
		h.contains("ignored header:Content-Type for GET /api/orders")
		h.keys("shift+tab", "i")
		h.contains("ignored status for GET /api/orders")
		got, _ := os.ReadFile(f.rules)
		if want := strings.Replace(testRules, "  - match: GET /api/orders\n", "  - match: GET /api/orders\n    ignore_headers: [Content-Type]\n    ignore_status: true\n", 1); string(got) != want {
			t.Fatalf("rules file:\n%s\nwant:\n%s", got, want)
		}
		// A text body cannot be ignored by pattern: the UI says why.
		h.keys("tab", "i")
		h.contains("write a normalize: rule")
	})
	t.Run("ErrNoRulesFile", func(t *testing.T) {
		f := newFixture(t)
		h := newHarness(t, f, 80, 24)
		h.m.sh.rulesPath = ""
		h.keys("enter", "i")
		h.contains("no rules file: start tandem tui with --rules FILE")
	})
	t.Run("ErrBrokenRulesFile", func(t *testing.T) {
		f := newFixture(t)
		h := newHarness(t, f, 120, 40)
		os.WriteFile(f.rules, []byte("version: 1\nendpoints:\n  - mtch: GET /\n"), 0o644)
		h.keys("enter", "i")
		h.contains(`has errors; fix them first`)
		if got, _ := os.ReadFile(f.rules); string(got) != "version: 1\nendpoints:\n  - mtch: GET /\n" {
			t.Errorf("a broken rules file was changed: %q", got)
		}
	})
}

// TestLiveRefresh records while the UI is open, as a proxy would, and
// checks that a tick shows it without moving the cursor.
func TestLiveRefresh(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 120, 40)
	h.keys("x", "down", "down") // users, all exchanges; the cursor on the third newest
	before, _ := h.m.exchanges.selected()
	more := f.exchanges()[:2]
	f.record(t, more...)
	h.send(tickMsg{})
	if n := len(h.m.exchanges.rows); n != 8 {
		t.Fatalf("%d rows after the tick, want 8", n)
	}
	after, _ := h.m.exchanges.selected()
	if after.ID != before.ID {
		t.Errorf("the cursor moved from #%d to #%d", before.ID, after.ID)
	}
	h.contains("8 of 8 shown")
	// The endpoints refresh the same way.
	h.keys("esc", "down")
	f.record(t, f.exchanges()[6:8]...)
	h.send(tickMsg{})
	h.contains("15 requests")
	if r, _ := h.m.endpoints.table.selected(); r.key != "GET /api/orders" {
		t.Errorf("the cursor moved to %q", r.key)
	}
	// A tick while a reload is in flight starts no other.
	h.m.loading[endpointsView] = true
	if _, cmd := h.m.Update(tickMsg{}); cmd != nil {
		t.Error("a tick started a second reload")
	}
	h.m.loading[endpointsView] = false
	if _, cmd := h.m.Update(tickMsg{}); cmd == nil {
		t.Error("a tick did not reload")
	}
}

// TestLiveRefresh_Scrolled: in a scrolled list, exchanges recorded above
// the selected one do not move it on the screen.
func TestLiveRefresh_Scrolled(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 10)  // five rows
	h.keys("x", "end", "up", "up") // users, all six exchanges: scrolled by one, the cursor mid-screen
	tb := &h.m.exchanges.table
	before, _ := h.m.exchanges.selected()
	if tb.offset != 1 || tb.cursor != 3 {
		t.Fatalf("offset %d, cursor %d", tb.offset, tb.cursor)
	}
	shown := h.screen()
	f.record(t, f.exchanges()[:2]...) // two newer users: listed first
	h.send(tickMsg{})
	after, _ := h.m.exchanges.selected()
	if after.ID != before.ID || tb.cursor != 5 || tb.offset != 3 {
		t.Errorf("after the tick: #%d (was #%d), cursor %d, offset %d; want the same exchange at cursor 5, offset 3", after.ID, before.ID, tb.cursor, tb.offset)
	}
	// The rows on the screen are the same ones; only the counts changed.
	if a, b := strings.Split(shown, "\n")[3:8], strings.Split(h.screen(), "\n")[3:8]; !slices.Equal(a, b) {
		t.Errorf("rows before:\n%s\nafter:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	// At the top, new rows show as they come.
	h.keys("home")
	f.record(t, f.exchanges()[:1]...)
	h.send(tickMsg{})
	if tb.offset != 0 || tb.cursor != 1 {
		t.Errorf("at the top: offset %d, cursor %d; want 0 and 1", tb.offset, tb.cursor)
	}
}

func TestResize(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 24)
	for _, keys := range [][]string{nil, {"enter"}, {"enter"}, {"enter", "tab"}, {"?"}, {"esc", "y"}, {"x", "n", "a note"}} {
		h.keys(keys...)
		for _, sz := range []struct{ w, h int }{{120, 40}, {80, 24}, {200, 60}, {60, 15}, {20, 4}, {1, 1}, {80, 24}} {
			h.send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
			checkSize(t, h.screen(), sz.w, sz.h)
		}
	}
}

// TestSecrets: nothing the store redacted shows anywhere, and the curl
// command carries the redacted values as stored.
func TestSecrets(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 200, 60)
	var seen strings.Builder
	look := func() { seen.WriteString(h.screen()) }
	look()
	h.keys("enter")
	look()
	h.keys("enter")
	look()
	h.keys("enter")
	look()
	for range 3 {
		h.keys("pgdown")
		look()
	}
	h.keys("y")
	look()
	all := seen.String() + strings.Join(h.clip, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("%q is shown", s)
		}
	}
	for _, want := range []string{"Authorization: [REDACTED]", "Set-Cookie: [REDACTED]", `"password": "[REDACTED]"`, "access_token=%5BREDACTED%5D"} {
		if !strings.Contains(all, want) {
			t.Errorf("%q is not shown", want)
		}
	}
	if !strings.Contains(h.clip[0], "-H 'Authorization: [REDACTED]'") {
		t.Errorf("curl %q", h.clip[0])
	}

	// A request body with a secret, and a difference at a secret field:
	// the body, the fields' example, the differences list and the curl
	// command all show the redacted value.
	f.record(t, &tandem.Exchange{Request: tandem.Request{Method: "POST", URL: "/api/login", Host: "h", Body: []byte(`{"user":"a","password":"s3cr3t-password"}`)},
		Legacy:    jsonResp(200, `{"ok":true,"password":"s3cr3t-password"}`, time.Millisecond),
		Candidate: jsonResp(200, `{"ok":true,"password":"s3cr3t-token"}`, time.Millisecond)})
	seen.Reset()
	h.keys("esc", "esc", "esc", "esc", "/", "login", "enter", "enter") // reloaded on the way back
	look()
	h.keys("enter", "enter", "tab")
	look()
	for range 3 {
		h.keys("pgdown")
		look()
	}
	h.keys("y")
	look()
	all = seen.String() + h.clip[len(h.clip)-1]
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("%q is shown", s)
		}
	}
	for _, want := range []string{`$.password`, `[REDACTED] → [REDACTED]`, `{"user":"a","password":"[REDACTED]"}`, `--data-binary '{"user":"a","password":"[REDACTED]"}'`} {
		if !strings.Contains(all, want) {
			t.Errorf("%q is not shown", want)
		}
	}
}

type env map[string]string

func (e env) Environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}
func (e env) Getenv(k string) string { return e[k] }

// TestNoColor: the styles come from the terminal's renderer, which drops
// colour under NO_COLOR.
func TestNoColor(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		env   env
		color bool
	}{
		{env{"TERM": "xterm-256color"}, true},
		{env{"TERM": "xterm-256color", "NO_COLOR": "1"}, false},
	} {
		r := lipgloss.NewRenderer(io.Discard, termenv.WithTTY(true), termenv.WithEnvironment(tt.env))
		m := New(Options{DB: f.db, Refresh: -1, Renderer: r})
		h := &harness{t: t, m: m}
		h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
		h.run(m.Init())
		if got := strings.Contains(h.screen(), "\x1b["); got != tt.color {
			t.Errorf("%v: escape sequences %v, want %v", tt.env, got, tt.color)
		}
	}
}

func TestHelp(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 24)
	h.keys("?")
	for _, g := range h.m.sh.keys.full() {
		for _, b := range g.keys {
			h.contains(b.Help().Key + " ")
		}
	}
	h.contains("outcome:mismatch")
	h.keys("q") // closes the help, does not quit
	if h.quit || h.m.help {
		t.Errorf("quit %v, help %v", h.quit, h.m.help)
	}
	h.contains("ENDPOINT")
	h.keys("ctrl+c")
	if !h.quit {
		t.Error("ctrl+c did not quit")
	}
}

// TestFatal: a database that cannot be read is said plainly, and any key
// quits.
func TestFatal(t *testing.T) {
	f := newFixture(t)
	f.db.Close()
	h := newHarness(t, f, 80, 24)
	h.contains("tandem: report:", "press any key to quit")
	h.keys("j")
	if !h.quit {
		t.Error("a key did not quit")
	}
}

// Keys typed faster than they are read come as one message.
func TestKeys_Burst(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 24)
	h.keys("enter", "enter")
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("qq")})
	if h.m.state != endpointsView {
		t.Errorf("qq left view %d, want the endpoints", h.m.state)
	}
}

// TestKeys_FooterFits: every view's key hints fit 80 columns whole, and
// every key they name is in the help.
func TestKeys_FooterFits(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 24)
	for _, v := range []view{endpointsView, fieldsView, exchangesView, detailView} {
		h.m.state = v
		line := h.m.statusLine()
		if strings.Contains(line, "…") || ansi.StringWidth(line) > 80 {
			t.Errorf("view %d: the key hints are cut: %q", v, line)
		}
		for _, b := range h.m.sh.keys.short(v) {
			found := false
			for _, g := range h.m.sh.keys.full() {
				for _, fb := range g.keys {
					found = found || fb.Help().Key == b.Help().Key
				}
			}
			if !found {
				t.Errorf("view %d: %q is not in the help", v, b.Help().Key)
			}
		}
	}
}
