package tui

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/google/go-cmp/cmp"
	"github.com/muesli/termenv"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// pkgDir is the package's directory (tests change into temporary ones).
var pkgDir, _ = os.Getwd()

// testRules is the rules file the tests start from: comments and a flow
// list, as people write them.
const testRules = `# Rules for the triage UI tests.
version: 1
defaults:
  compare_headers: [Content-Type]
  redact: [access_token, password]   # never stored
endpoints:
  # Users, by id.
  - match: GET /api/users/{id}
    ignore: ["$.updatedAt"]   # changes on every call
  - match: GET /api/orders
`

// Secrets that the requests and bodies carry: the store must have
// redacted every one before anything shows.
var secrets = []string{"s3cr3t-token", "s3cr3t-cookie", "s3cr3t-query", "s3cr3t-password"}

var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture builds a database the way a proxy does: exchanges judged by the
// real rules and comparer, recorded by the store's writer, redacted.
type fixture struct {
	db    *store.DB
	rules string // path of the rules file
	dir   string
	n     int // exchanges recorded so far
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	// Paths relative to the test's own directory read the same on every
	// machine (they show in the status line and the help).
	dir := t.TempDir()
	t.Chdir(dir)
	f := &fixture{dir: dir, rules: "rules.yaml"}
	if err := os.WriteFile(f.rules, []byte(testRules), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), "t.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return base }
	t.Cleanup(func() { db.Close() })
	f.db = db
	f.record(t, f.exchanges()...)
	return f
}

func jsonResp(status int, body string, latency time.Duration, extra ...tandem.Header) tandem.Response {
	h := append(tandem.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Set-Cookie", Value: "sid=s3cr3t-cookie"}}, extra...)
	return tandem.Response{Status: status, Header: h, Body: []byte(body), Latency: latency}
}

func user(id int, price, extra, requestID string) string {
	return fmt.Sprintf(`{"id":%d,"name":"user %d","password":"s3cr3t-password","price":%s,"requestId":%q,"tags":["a","b"],"updatedAt":"2024-05-01T12:00:%02dZ"%s}`,
		id, id, price, requestID, id, extra)
}

// exchanges returns the traffic of the tests: users whose price became a
// string (4) or who gained a field (2), with a secondary whose requestId
// differs (noise); an order the candidate failed and one it answered with
// a 500 in text; health checks (no rule: the automatic name) that
// mismatch once.
func (f *fixture) exchanges() []*tandem.Exchange {
	var out []*tandem.Exchange
	req := func(method, url string) tandem.Request {
		return tandem.Request{Method: method, URL: url, Host: "api.example",
			Header: tandem.Headers{{Name: "Authorization", Value: "Bearer s3cr3t-token"}, {Name: "Cookie", Value: "sid=s3cr3t-cookie"}, {Name: "Accept", Value: "application/json"}}}
	}
	for i := 1; i <= 6; i++ {
		price, extra := `"10"`, ""
		if i > 4 {
			price, extra = "10", `,"nickname":"u"`
		}
		ex := &tandem.Exchange{
			Request:   req("GET", fmt.Sprintf("/api/users/%d?access_token=s3cr3t-query&v=2", i)),
			Legacy:    jsonResp(200, user(i, "10", "", "r-1"), time.Duration(2+i)*time.Millisecond),
			Candidate: jsonResp(200, user(i, price, extra, "r-2"), time.Duration(4+i)*time.Millisecond),
		}
		sec := jsonResp(200, user(i, "10", "", "r-3"), 3*time.Millisecond)
		ex.Secondary = &sec
		out = append(out, ex)
	}
	failed := &tandem.Exchange{Request: req("GET", "/api/orders?page=1"), Legacy: jsonResp(200, `{"orders":[]}`, 9*time.Millisecond),
		Candidate: tandem.Response{Err: "dial tcp 127.0.0.1:9002: connect: connection refused"}}
	text := &tandem.Exchange{Request: req("GET", "/api/orders?page=2"),
		Legacy:    tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("orders\nnone\n"), Latency: 8 * time.Millisecond},
		Candidate: tandem.Response{Status: 500, Header: tandem.Headers{{Name: "Content-Type", Value: "text/html"}}, Body: []byte("orders\nerror\n"), Latency: 30 * time.Millisecond}}
	out = append(out, failed, text)
	for i := range 3 {
		cand := `{"status":"ok"}`
		if i == 2 {
			cand = `{"status":"degraded"}`
		}
		out = append(out, &tandem.Exchange{Request: req("GET", "/health"), Legacy: jsonResp(200, `{"status":"ok"}`, time.Millisecond),
			Candidate: jsonResp(200, cand, time.Millisecond)})
	}
	return out
}

// record judges the exchanges under the rules file and writes them, one
// every 30 seconds from base onwards.
func (f *fixture) record(t testing.TB, exs ...*tandem.Exchange) {
	t.Helper()
	rs, err := rules.Load(f.rules)
	if err != nil {
		t.Fatal(err)
	}
	w := f.db.NewWriter(store.WriterConfig{})
	for _, ex := range exs {
		ex.Time = base.Add(time.Duration(f.n) * 30 * time.Second)
		f.n++
		redact := rs.Apply(ex)
		w.Record(ex, redact)
	}
	w.Add(tandem.Count{Name: "requests", N: int64(len(exs))})
	w.Close()
}

// harness drives the root model as bubbletea would: messages in, commands
// run (synchronously) and their messages fed back, until nothing is left.
type harness struct {
	t    testing.TB
	m    Model
	quit bool
	clip []string
}

func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

func newHarness(t testing.TB, f *fixture, width, height int) *harness {
	h := &harness{t: t}
	h.m = New(Options{DB: f.db, RulesPath: f.rules, Refresh: -1, Renderer: asciiRenderer(),
		Clipboard: func(s string) error { h.clip = append(h.clip, s); return nil }})
	h.send(tea.WindowSizeMsg{Width: width, Height: height})
	h.run(h.m.Init())
	return h
}

func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	next, cmd := h.m.Update(msg)
	h.m = next.(Model)
	h.run(cmd)
}

func (h *harness) run(cmd tea.Cmd) {
	h.t.Helper()
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
	case tea.QuitMsg:
		h.quit = true
	default:
		h.send(msg)
	}
}

// keys sends key presses: names ("enter", "esc", "tab", "shift+tab",
// "up", "down", "pgdown", "left", "right", "backspace", "ctrl+c") or text,
// typed one rune at a time.
func (h *harness) keys(keys ...string) {
	h.t.Helper()
	named := map[string]tea.KeyType{"enter": tea.KeyEnter, "esc": tea.KeyEsc, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab,
		"up": tea.KeyUp, "down": tea.KeyDown, "pgdown": tea.KeyPgDown, "pgup": tea.KeyPgUp, "left": tea.KeyLeft, "right": tea.KeyRight,
		"backspace": tea.KeyBackspace, "ctrl+c": tea.KeyCtrlC, "home": tea.KeyHome, "end": tea.KeyEnd, "space": tea.KeySpace}
	for _, k := range keys {
		if t, ok := named[k]; ok {
			h.send(tea.KeyMsg{Type: t})
			continue
		}
		for _, r := range k {
			h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
	}
}

func (h *harness) screen() string { return h.m.View() }

// contains fails unless the screen shows every string.
func (h *harness) contains(want ...string) {
	h.t.Helper()
	s := h.screen()
	for _, w := range want {
		if !strings.Contains(s, w) {
			h.t.Fatalf("the screen lacks %q:\n%s", w, s)
		}
	}
}

func (h *harness) lacks(unwanted ...string) {
	h.t.Helper()
	s := h.screen()
	for _, w := range unwanted {
		if strings.Contains(s, w) {
			h.t.Fatalf("the screen shows %q:\n%s", w, s)
		}
	}
}

// checkSize fails unless the screen is exactly width × height.
func checkSize(t testing.TB, screen string, width, height int) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != height {
		t.Errorf("%d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, w, width, l)
		}
	}
}

// golden compares a screen with testdata/NAME.golden (rewritten with
// -update) in the package's directory, the blanks that pad lines cut
// (checkSize checks the size).
func golden(t testing.TB, name, screen string) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	screen = strings.Join(lines, "\n") + "\n"
	path := filepath.Join(pkgDir, "testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(screen), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update)", err)
	}
	if d := cmp.Diff(string(want), screen); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}
