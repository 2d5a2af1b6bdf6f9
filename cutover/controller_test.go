package cutover_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/cutover"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

// signalled passes verdicts to the controller and tells the test.
type signalled struct {
	*cutover.Controller
	seen chan struct{}
}

func (s *signalled) Observe(ex *tandem.Exchange) {
	s.Controller.Observe(ex)
	s.seen <- struct{}{}
}

const planRules = `version: 1
endpoints:
  - match: GET /items/{id}
    sample: 1
    cutover: {steps: [0.1, 0.5, 1.0], min_exchanges: 5, hold: 1m, max_mismatch_rate: 0.5, max_error_rate: 0.5, confidence: 0.9}
`

const ep = "GET /items/{id}"

type rig struct {
	t     *testing.T
	db    *store.DB
	path  string
	ctl   *cutover.Controller
	obs   *signalled
	addr  string
	clock atomic.Int64
	bad   *atomic.Bool
	px    *mirror.Proxy
	cand  *httptest.Server
}

func newRig(t *testing.T, dbPath string, bad *atomic.Bool) *rig {
	t.Helper()
	answer := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Side", name)
			if name == "candidate" && bad.Load() {
				fmt.Fprint(w, `{"wrong":true}`)
				return
			}
			fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
		})
	}
	legacy := httptest.NewServer(answer("legacy"))
	t.Cleanup(legacy.Close)
	cand := httptest.NewServer(answer("candidate"))
	t.Cleanup(cand.Close)
	ctx := context.Background()
	db, err := store.Open(ctx, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(store.WriterConfig{})
	rs, err := rules.Parse("rules.yaml", []byte(planRules))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, db: db, path: dbPath, bad: bad, obs: &signalled{seen: make(chan struct{}, 1000)}}
	lu, _ := url.Parse(legacy.URL)
	cu, _ := url.Parse(cand.URL)
	p, err := mirror.New(mirror.Config{Legacy: lu, Candidate: cu, Rules: rs, Recorder: w, Observer: r.obs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		p.Shutdown(sctx)
		w.Close()
		db.Close()
	})
	r.px, r.addr, r.cand = p, "http://"+ln.Addr().String(), cand
	r.clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	r.ctl = cutover.NewController(db, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.ctl.Now = func() time.Time { return time.Unix(0, r.clock.Load()) }
	r.obs.Controller = r.ctl
	if err := r.ctl.Load(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// traffic sends n requests and waits for their n verdicts; it returns how
// many the candidate served.
func (r *rig) traffic(n int) (served int) {
	r.t.Helper()
	for i := range n {
		resp, err := http.Get(fmt.Sprintf("%s/items/%d", r.addr, i))
		if err != nil {
			r.t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			r.t.Fatalf("client got %d", resp.StatusCode)
		}
		if resp.Header.Get("X-Side") == "candidate" {
			served++
		}
	}
	for range n {
		select {
		case <-r.obs.seen:
		case <-time.After(10 * time.Second):
			r.t.Fatal("verdicts did not reach the controller")
		}
	}
	return served
}

func (r *rig) tickAfter(d time.Duration) {
	r.t.Helper()
	r.clock.Add(int64(d))
	if err := r.ctl.Tick(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) state() store.CutoverState {
	r.t.Helper()
	states, err := r.db.CutoverStates(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	for _, s := range states {
		if s.Endpoint == ep {
			return s
		}
	}
	return store.CutoverState{Endpoint: ep, Step: -1, State: "shadow"}
}

func TestController_PromotesThroughEveryStep(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "t.db"), new(atomic.Bool))
	for i, want := range []struct {
		share float64
		state string
	}{{0.1, "serving"}, {0.5, "serving"}, {1, "done"}} {
		r.traffic(5)
		r.tickAfter(59 * time.Second) // the hold is not over
		if s := r.state(); s.Step != i-1 {
			t.Fatalf("promoted to step %d before the hold was over", s.Step)
		}
		r.tickAfter(time.Second)
		if s := r.state(); s.Step != i || s.Share != want.share || s.State != want.state {
			t.Fatalf("after step %d: %+v, want share %v %s", i, s, want.share, want.state)
		}
	}
	if served := r.traffic(10); served != 10 {
		t.Errorf("at share 1 the candidate served %d of 10", served)
	}
	r.tickAfter(time.Hour) // done stays done on good evidence
	if s := r.state(); s.State != "done" {
		t.Fatalf("done moved: %+v", s)
	}
	evs, err := r.db.CutoverEvents(context.Background(), ep)
	if err != nil || len(evs) != 4 || evs[0].Action != "plan" || evs[3].Action != "promote" || evs[3].Actor != "controller" || evs[3].Reason == "" || evs[3].Evidence == "{}" {
		t.Errorf("audit trail %+v, %v", evs, err)
	}
}

func TestController_RollsBackARegression(t *testing.T) {
	bad := new(atomic.Bool)
	r := newRig(t, filepath.Join(t.TempDir(), "t.db"), bad)
	r.traffic(5)
	r.tickAfter(time.Minute)
	r.traffic(5)
	r.tickAfter(time.Minute)
	if s := r.state(); s.Share != 0.5 {
		t.Fatalf("not at step 0.5: %+v", s)
	}
	// At 0.5 the candidate regresses: 5 mismatches in 5 put the lower
	// bound (0.1^(1/5) = 0.63) over the 0.5 allowed.
	bad.Store(true)
	r.traffic(5)
	r.tickAfter(time.Second) // at once: no minimum, no hold
	if s := r.state(); s.Share != 0 || s.State != "rolled_back" {
		t.Fatalf("after a regression: %+v, want rolled back to 0", s)
	}
	if served := r.traffic(10); served != 0 {
		t.Errorf("rolled back, the candidate still served %d", served)
	}
	r.tickAfter(time.Hour)
	if s := r.state(); s.State != "rolled_back" {
		t.Errorf("a rolled-back endpoint moved by itself: %+v", s)
	}
}

func TestController_RollsBackWhenDone(t *testing.T) {
	bad := new(atomic.Bool)
	r := newRig(t, filepath.Join(t.TempDir(), "t.db"), bad)
	for range 3 {
		r.traffic(5)
		r.tickAfter(time.Minute)
	}
	if s := r.state(); s.State != "done" {
		t.Fatalf("not done: %+v", s)
	}
	bad.Store(true)
	r.traffic(5)
	r.tickAfter(time.Second)
	if s := r.state(); s.State != "rolled_back" || s.Share != 0 {
		t.Errorf("a regression at 100%%: %+v, want rolled back", s)
	}
}

func TestController_RollsBackOnFallbackBurst(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "t.db"), new(atomic.Bool))
	for range 2 {
		r.traffic(5)
		r.tickAfter(time.Minute)
	}
	if s := r.state(); s.Share != 0.5 {
		t.Fatalf("not at 0.5: %+v", s)
	}
	r.cand.Close() // the candidate dies while serving half the traffic
	if served := r.traffic(40); served != 0 {
		t.Errorf("a dead candidate answered %d", served)
	}
	r.tickAfter(time.Second)
	if s := r.state(); s.State != "rolled_back" || s.Share != 0 {
		t.Fatalf("after the candidate died: %+v", s)
	}
	evs, _ := r.db.CutoverEvents(context.Background(), ep)
	if last := evs[len(evs)-1]; last.Action != "rollback" || !strings.HasPrefix(last.Reason, "fallback burst") {
		t.Errorf("rolled back for %q", last.Reason)
	}
}

func TestController_ResumesAtRecordedStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ChangeCutover(ctx, store.CutoverState{Endpoint: ep, Share: 0.5, Step: 1, State: "serving", Plan: "[0.1,0.5,1]"},
		store.CutoverEvent{Actor: "controller", Action: "promote", Reason: "before the restart"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := newRig(t, path, new(atomic.Bool))
	served := r.traffic(60)
	if served == 0 || served == 60 {
		t.Errorf("resumed at share 0.5, the candidate served %d of 60", served)
	}
	// The evidence of the step is gathered anew: no promotion before the
	// hold, counted from the restart.
	r.tickAfter(30 * time.Second)
	if s := r.state(); s.Step != 1 {
		t.Errorf("after the restart: %+v, want step 1 still", s)
	}
}

func TestController_AdoptsOperatorPause(t *testing.T) {
	r := newRig(t, filepath.Join(t.TempDir(), "t.db"), new(atomic.Bool))
	r.traffic(5)
	r.tickAfter(time.Minute)
	if err := cutover.Operate(context.Background(), r.db, ep, cutover.Pause, "test"); err != nil {
		t.Fatal(err)
	}
	if err := r.ctl.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.traffic(5)
	r.tickAfter(time.Hour)
	if s := r.state(); s.State != "paused" || s.Share != 0.1 {
		t.Errorf("paused endpoint moved: %+v", s)
	}
}
