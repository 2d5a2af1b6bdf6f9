package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

// TestRun_QuitEndsCommandsContext: the context the commands run under is
// the program's, and quitting ends it (a re-judge still at work stops).
func TestRun_QuitEndsCommandsContext(t *testing.T) {
	f := newFixture(t)
	m := New(Options{DB: f.db, RulesPath: f.rules, Refresh: -1, Renderer: asciiRenderer()})
	if err := m.sh.ctx.Err(); err != nil {
		t.Fatalf("a new model's context is done: %v", err)
	}
	final, err := run(context.Background(), m, strings.NewReader("q"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := final.sh.ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("after q, the commands' context: %v, want canceled", err)
	}
}

// TestIgnore_ErrCanceled: a re-judge under an ended context stops without
// re-judging, and the UI says so.
func TestIgnore_ErrCanceled(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 120, 40)
	h.keys("enter", "down") // GET /api/users/{id}: $.nickname
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.m.sh.ctx = ctx
	h.keys("i")
	if !h.m.status.err || !strings.Contains(h.m.status.text, "re-judge: ") || !strings.Contains(h.m.status.text, "context canceled") {
		t.Errorf("status %+v, want the canceled re-judge", h.m.status)
	}
	n := 0
	if err := f.db.Exchanges(context.Background(), store.Filter{Pattern: "$.nickname"}, func(*tandem.Exchange) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d exchanges differ at $.nickname, want the 2 not re-judged", n)
	}
}

// TestDetail_EndpointRenamed: a re-judge that only renames an exchange's
// endpoint (its outcome and differences stay) shows in the open detail,
// whose title names the endpoint.
func TestDetail_EndpointRenamed(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 80, 24)
	h.keys("enter", "enter", "enter") // GET /api/users/{id} › $.price › the newest
	if h.m.state != detailView {
		t.Fatalf("view %d", h.m.state)
	}
	h.contains("· GET /api/users/{id} ·")
	renamed := strings.Replace(testRules, "GET /api/users/{id}", "GET /api/users/{user}", 1)
	if err := os.WriteFile(f.rules, []byte(renamed), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse(f.rules, []byte(renamed))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Rediff(context.Background(), store.Filter{}, rs.Judge, 0); err != nil {
		t.Fatal(err)
	}
	h.send(tickMsg{})
	// The breadcrumb keeps the way the detail was opened.
	h.contains("#4 · GET /api/users/{user} · mismatch")
}

// TestScreen_EveryView: every view is a screen and the lists filter; the
// root reaches each through one switch.
func TestScreen_EveryView(t *testing.T) {
	var m Model
	for v := range views {
		s := m.screen(v)
		if s == nil {
			t.Fatalf("view %d has no screen", v)
		}
		_, filters := s.(filterable)
		if want := v != detailView; filters != want {
			t.Errorf("view %d filterable %v, want %v", v, filters, want)
		}
	}
	// The pointer is into the model: a size sent through it stays.
	m.screen(fieldsView).handle(tea.WindowSizeMsg{Width: 40, Height: 10})
	if m.fields.width != 40 {
		t.Errorf("fields width %d after a resize through the screen", m.fields.width)
	}
}
