package cutover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

// Intervals of the controller's loop (README, "Cutover"): it reads the
// database twice a second, so that an operator's command is in force
// within a second, and judges every endpoint once a second.
const (
	DefaultPollInterval = 500 * time.Millisecond
	DefaultTickInterval = time.Second
)

// Actors of an audit row.
const (
	ActorController = "controller"
	ActorOperator   = "operator"
)

// Proxy is what the controller steers: the shares it serves and the rules
// holding the plans. *mirror.Proxy is one.
type Proxy interface {
	SetShares(map[string]float64)
	Rules() *rules.Set
}

// Controller runs the cutover in the proxy: it counts the verdicts of each
// planned endpoint at its current step, decides, persists each decision
// with its evidence, and sets the proxy's shares. The database is the
// truth: at start it resumes at the recorded step, and it adopts what an
// operator writes there.
type Controller struct {
	db  *store.DB
	px  Proxy
	log *slog.Logger
	// Now is the clock (tests move it to pass a plan's hold).
	Now func() time.Time

	mu        sync.Mutex
	eps       map[string]*endpoint
	decisions map[[2]string]int64 // endpoint, action
}

type endpoint struct {
	row       store.CutoverState
	since     time.Time
	counts    Counts
	fallbacks []time.Time // within the plan's window, oldest first
	noted     string      // the evidence last written
}

// NewController builds a controller; Load it, then Run it.
// px may be nil and given later with Attach (the proxy's Config takes the
// controller as its Observer).
func NewController(db *store.DB, px Proxy, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	return &Controller{db: db, px: px, log: log, Now: time.Now, eps: map[string]*endpoint{}, decisions: map[[2]string]int64{}}
}

// Attach gives the controller the proxy it steers, before Load.
func (c *Controller) Attach(px Proxy) { c.px = px }

// Observe counts a compared exchange of an endpoint in cutover toward its
// current step (the mirror workers call it).
func (c *Controller) Observe(ex *tandem.Exchange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.eps[ex.Endpoint]
	if e == nil {
		return
	}
	switch ex.Outcome {
	case tandem.Match:
		e.counts.Match++
	case tandem.Mismatch:
		e.counts.Mismatch++
	case tandem.Noise:
		e.counts.Noise++
	case tandem.CandidateError:
		e.counts.Errors++
	case tandem.DiffError:
		e.counts.DiffErrors++
	}
}

// Fallback counts a request of the endpoint that the candidate failed and
// legacy answered.
func (c *Controller) Fallback(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.eps[name]; e != nil {
		e.counts.Fallbacks++
		e.fallbacks = append(e.fallbacks, c.Now())
	}
}

// Load reads the recorded state and sets the proxy's shares from it: a
// restarted proxy resumes at the recorded step, never higher, with the
// evidence of that step gathered anew.
func (c *Controller) Load(ctx context.Context) error { return c.Sync(ctx) }

// Sync adopts the database's state (an operator's command, or the record
// at start) and the rules' plans, and sets the proxy's shares.
func (c *Controller) Sync(ctx context.Context) error {
	rows, err := c.db.CutoverStates(ctx)
	if err != nil {
		return err
	}
	byName := map[string]store.CutoverState{}
	for _, r := range rows {
		byName[r.Endpoint] = r
	}
	now := c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ep := range c.px.Rules().Endpoints() {
		if ep.Plan() == nil {
			continue
		}
		r, ok := byName[ep.Name]
		if !ok {
			// Recorded at once, so that an operator can act on it.
			steps, _ := json.Marshal(ep.Plan().Steps)
			r = store.CutoverState{Endpoint: ep.Name, Step: -1, State: string(Shadow), Plan: string(steps)}
			if err := c.db.ChangeCutover(ctx, r, store.CutoverEvent{Actor: ActorController, Action: "plan",
				Reason: "cutover plan in the rules: " + ep.Plan().String()}); err != nil {
				return err
			}
		}
		e := c.eps[ep.Name]
		if e == nil {
			c.eps[ep.Name] = &endpoint{row: r, since: now}
			continue
		}
		if ok && (r.Share != e.row.Share || r.Step != e.row.Step || r.State != e.row.State) {
			c.log.Info("cutover: adopting the recorded state", "endpoint", ep.Name, "state", r.State, "share", r.Share, "step", r.Step)
			*e = endpoint{row: r, since: now}
		}
	}
	c.applyLocked()
	return nil
}

func (c *Controller) applyLocked() {
	shares := make(map[string]float64, len(c.eps))
	for n, e := range c.eps {
		shares[n] = e.row.Share
	}
	c.px.SetShares(shares)
}

// Tick judges every planned endpoint at its step and carries out the
// decisions.
func (c *Controller) Tick(ctx context.Context) error {
	now := c.Now()
	rs := c.px.Rules()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, e := range c.eps {
		plan := rs.Lookup(name).Plan()
		if plan == nil || rs.Lookup(name).Name != name {
			continue
		}
		state := State(e.row.State)
		// Done is still watched: at the last step a regression is rolled
		// back like at any other.
		if state != Shadow && state != Serving && state != Done {
			continue
		}
		cut := now.Add(-plan.FallbackWindow)
		for len(e.fallbacks) > 0 && e.fallbacks[0].Before(cut) {
			e.fallbacks = e.fallbacks[1:]
		}
		action, reason, ev := Decide(plan, e.counts, now.Sub(e.since), int64(len(e.fallbacks)))
		next := e.row
		switch {
		case action == Promote && state != Done:
			next.Step++
			if next.Step >= len(plan.Steps) {
				next.Step, next.State = len(plan.Steps)-1, string(Done)
			} else {
				next.Share, next.State = plan.Steps[next.Step], string(Serving)
				if next.Step == len(plan.Steps)-1 && next.Share >= 1 {
					// The whole endpoint is the candidate's: nothing more to promote to.
					next.State = string(Done)
				}
			}
		case action == Rollback && state != Shadow:
			next.Share, next.Step, next.State = 0, -1, string(RolledBack)
		default:
			evJSON, _ := json.Marshal(ev)
			if string(evJSON) != e.noted {
				if err := c.db.NoteCutoverEvidence(ctx, name, string(evJSON)); err != nil {
					return err
				}
				e.noted = string(evJSON)
			}
			continue
		}
		if err := c.changeLocked(ctx, e, next, ActorController, string(action), reason, ev, plan); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) changeLocked(ctx context.Context, e *endpoint, next store.CutoverState, actor, action, reason string, ev Evidence, plan *rules.CutoverPlan) error {
	evJSON, _ := json.Marshal(ev)
	steps, _ := json.Marshal(plan.Steps)
	next.Evidence, next.Plan = string(evJSON), string(steps)
	if err := c.db.ChangeCutover(ctx, next, store.CutoverEvent{Actor: actor, Action: action, Reason: reason}); err != nil {
		return err
	}
	c.log.Info("cutover: "+action, "endpoint", next.Endpoint, "state", next.State, "share", next.Share, "step", next.Step, "reason", reason)
	*e = endpoint{row: next, since: c.Now()}
	c.decisions[[2]string{next.Endpoint, action}]++
	c.applyLocked()
	return nil
}

// Run polls the database and judges the endpoints until ctx is done. An
// error reading or writing the database is logged and tried again: the
// shares in force stay.
func (c *Controller) Run(ctx context.Context, poll, tick time.Duration) {
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	if tick <= 0 {
		tick = DefaultTickInterval
	}
	p, t := time.NewTicker(poll), time.NewTicker(tick)
	defer p.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.C:
			if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("cutover: cannot read the recorded state; the shares in force stay", "err", err)
			}
		case <-t.C:
			if err := c.Tick(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("cutover: cannot record a decision; it is taken again next second", "err", err)
			}
		}
	}
}

// WriteMetrics exports every decision as a counter.
func (c *Controller) WriteMetrics(w io.Writer) {
	c.mu.Lock()
	keys := make([][2]string, 0, len(c.decisions))
	for k := range c.decisions {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	fmt.Fprintf(w, "# HELP tandem_cutover_decisions_total Cutover decisions by endpoint and action.\n# TYPE tandem_cutover_decisions_total counter\n")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		fmt.Fprintf(w, "tandem_cutover_decisions_total{endpoint=%q,action=%q} %d\n", k[0], k[1], c.decisions[k])
	}
}
