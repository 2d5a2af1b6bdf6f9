package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestRun_QuitCancelsRediff: quitting while an ignore's re-judge is at
// work ends the re-judge. The test holds the re-judge in its judge until
// the program's context ends (the cancel observed), and the re-judge then
// returns context.Canceled without committing a change.
func TestRun_QuitCancelsRediff(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, f, 120, 40)
	h.keys("enter", "down") // GET /api/users/{id}: $.nickname
	held := make(chan struct{})
	returned := make(chan error, 1)
	h.m.sh.rediff = func(ctx context.Context, flt store.Filter, apply store.Reapply, batch int) (*store.RediffResult, error) {
		var once sync.Once
		hold := func(ex *tandem.Exchange) []string {
			once.Do(func() {
				close(held)
				<-ctx.Done()
			})
			return apply(ex)
		}
		res, err := f.db.Rediff(ctx, flt, hold, batch)
		returned <- err
		return res, err
	}
	in, typing := io.Pipe()
	defer typing.Close()
	type result struct {
		m   Model
		err error
	}
	quit := make(chan result, 1)
	go func() {
		m, err := run(context.Background(), h.m, in, io.Discard)
		quit <- result{m, err}
	}()
	typeKeys := func(keys string) {
		go typing.Write([]byte(keys)) // returns when the program reads them
	}
	typeKeys("i")
	waitFor(t, held, "the re-judge to start")
	typeKeys("\x03") // ctrl+c
	res := waitFor(t, quit, "the program to quit")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if err := waitFor(t, returned, "the re-judge to return"); !errors.Is(err, context.Canceled) {
		t.Errorf("the re-judge returned %v, want context.Canceled", err)
	}
	if n := f.differAt(t, "$.nickname"); n != 2 {
		t.Errorf("%d exchanges differ at $.nickname, want the 2 not re-judged", n)
	}
}

// differAt counts the stored exchanges that differ at a pattern.
func (f *fixture) differAt(t *testing.T, pattern string) int {
	t.Helper()
	n := 0
	if err := f.db.Exchanges(context.Background(), store.Filter{Pattern: pattern}, func(*tandem.Exchange) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor returns what ch delivers, failing the test if it takes longer
// than anything here should (a bound on a hang, not a wait for a state).
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
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
	if _, err := f.db.Rediff(context.Background(), store.Filter{}, rs.Apply, 0); err != nil {
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

// TestModel_Push: each view opens over the one it is opened from; one
// that is not deeper (all exchanges from an exchanges list) replaces the
// views down to where it opens; back pops, and there is nothing under the
// endpoints.
func TestModel_Push(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opens     []view
		wantUnder []view
	}{
		{"Fields", []view{fieldsView}, []view{endpointsView}},
		{"ExchangesFromEndpoints", []view{exchangesView}, []view{endpointsView}},
		{"Detail", []view{fieldsView, exchangesView, detailView}, []view{endpointsView, fieldsView, exchangesView}},
		{"ExchangesOverExchanges", []view{fieldsView, exchangesView, exchangesView}, []view{endpointsView, fieldsView}},
		{"ExchangesFromDetail", []view{exchangesView, detailView, exchangesView}, []view{endpointsView}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Model
			for _, v := range tc.opens {
				m.push(v)
			}
			if want := tc.opens[len(tc.opens)-1]; m.state != want {
				t.Errorf("active view %d, want %d", m.state, want)
			}
			if !slices.Equal(m.under, tc.wantUnder) {
				t.Errorf("under %v, want %v", m.under, tc.wantUnder)
			}
			for i := len(tc.wantUnder) - 1; i >= 0; i-- {
				if !m.pop() || m.state != tc.wantUnder[i] {
					t.Fatalf("back went to view %d, want %d", m.state, tc.wantUnder[i])
				}
			}
			if m.pop() {
				t.Error("back from the endpoints went somewhere")
			}
		})
	}
	// A Model is a value: opening a view from a copy leaves the original.
	var m Model
	m.push(fieldsView)
	m.push(exchangesView)
	c := m
	c.pop()
	c.push(detailView)
	if !slices.Equal(m.under, []view{endpointsView, fieldsView}) || m.state != exchangesView {
		t.Errorf("the original changed: view %d over %v", m.state, m.under)
	}
}
