package rules

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Serving is the strangler cutover's part of a rule: how much of the
// endpoint the candidate answers, and the plan by which that share moves
// (README, "Cutover"). The zero value serves everything from legacy.
type Serving struct {
	// Serve is the fraction of the endpoint's requests answered by the
	// candidate (nil: 0, or the first step of a cutover plan once the
	// operator starts it).
	Serve *float64 `json:"serve,omitempty"`
	// ServeWrites lets the candidate serve requests with side effects
	// (POST, PUT, …). Without it a write is always legacy's.
	ServeWrites *bool `json:"serve_writes,omitempty"`
	// FallbackOn5xx gives the client legacy's answer when the candidate
	// serving a safe request answers 5xx (a connection error or a timeout
	// always falls back).
	FallbackOn5xx *bool        `json:"fallback_on_5xx,omitempty"`
	Cutover       *CutoverPlan `json:"cutover,omitempty"`
}

// CutoverPlan is a rule's cutover: the shares the candidate serves, step by
// step, and the evidence each step needs before the next.
type CutoverPlan struct {
	Steps           []float64     `json:"steps"`
	MinExchanges    int64         `json:"min_exchanges"`
	Hold            time.Duration `json:"hold"`
	MaxMismatchRate float64       `json:"max_mismatch_rate"`
	MaxErrorRate    float64       `json:"max_error_rate"`
	Confidence      float64       `json:"confidence"`
	// FallbackBurst fallbacks within FallbackWindow roll the step back at
	// once: a candidate failing that fast is down, whatever the rates say.
	FallbackBurst  int64         `json:"fallback_burst"`
	FallbackWindow time.Duration `json:"fallback_window"`
}

// Defaults of a cutover plan, for keys the rule leaves out.
var (
	DefaultCutoverSteps = []float64{0.01, 0.1, 0.5, 1.0}
)

const (
	DefaultMinExchanges    = 200
	DefaultHold            = 10 * time.Minute
	DefaultMaxMismatchRate = 0.01
	DefaultMaxErrorRate    = 0.01
	DefaultConfidence      = 0.95
	DefaultFallbackBurst   = 5
	DefaultFallbackWindow  = 10 * time.Second
)

var cutoverKeys = []string{"steps", "min_exchanges", "hold", "max_mismatch_rate", "max_error_rate", "confidence", "fallback_burst", "fallback_window"}

func mergeServing(d, e Serving) Serving {
	return Serving{ // a setting the endpoint gives wins
		Serve:         cmp.Or(e.Serve, d.Serve),
		ServeWrites:   cmp.Or(e.ServeWrites, d.ServeWrites),
		FallbackOn5xx: cmp.Or(e.FallbackOn5xx, d.FallbackOn5xx),
		Cutover:       cmp.Or(e.Cutover, d.Cutover),
	}
}

// ServeShare is the share of the endpoint the rule gives the candidate.
func (e *Endpoint) ServeShare() float64 {
	if e.Config.Serve != nil {
		return *e.Config.Serve
	}
	return 0
}

// ServesWrites reports whether the candidate may serve this endpoint's
// requests with side effects.
func (e *Endpoint) ServesWrites() bool {
	return e.Config.ServeWrites != nil && *e.Config.ServeWrites
}

// FallsBackOn5xx reports whether a 5xx from the candidate serving a safe
// request gives the client legacy's answer instead.
func (e *Endpoint) FallsBackOn5xx() bool {
	return e.Config.FallbackOn5xx != nil && *e.Config.FallbackOn5xx
}

// Plan is the endpoint's cutover plan, nil when it has none.
func (e *Endpoint) Plan() *CutoverPlan { return e.Config.Cutover }

// Serving reports whether the candidate may answer any of this endpoint's
// requests: a serve share or a cutover plan.
func (e *Endpoint) Serving() bool { return e.ServeShare() > 0 || e.Config.Cutover != nil }

// serveSalt makes the serve choice independent of the sample choice: with
// the same key and the same hash, a 10% sample and a 10% share would be
// the same users, and none of the users the candidate serves would ever be
// compared as shadow traffic.
const serveSalt = "tandem-serve\x00"

// ServeHash01 maps a sample_by key to [0, 1) for the serve choice, like
// Hash01 but salted: the same key always lands on the same side.
func ServeHash01(key []byte) float64 {
	h := fnv.New64a()
	h.Write([]byte(serveSalt))
	h.Write(key)
	return mix01(h.Sum64())
}

func (l *loader) serving(kv *ast.MappingValueNode, key string, c *Config) {
	switch key {
	case "serve":
		c.Serve = l.fraction(kv.Value, "serve")
	case "serve_writes":
		c.ServeWrites = l.boolean(kv.Value, "serve_writes")
	case "fallback_on_5xx":
		c.FallbackOn5xx = l.boolean(kv.Value, "fallback_on_5xx")
	case "cutover":
		c.Cutover = l.cutover(kv.Value)
	}
}

func (l *loader) cutover(n ast.Node) *CutoverPlan {
	kvs, ok := l.mapping(n, "cutover")
	if !ok {
		return nil
	}
	p := &CutoverPlan{Steps: DefaultCutoverSteps, MinExchanges: DefaultMinExchanges, Hold: DefaultHold,
		MaxMismatchRate: DefaultMaxMismatchRate, MaxErrorRate: DefaultMaxErrorRate, Confidence: DefaultConfidence,
		FallbackBurst: DefaultFallbackBurst, FallbackWindow: DefaultFallbackWindow}
	valid := true
	rate := func(kv *ast.MappingValueNode, what string, dst *float64, open bool) {
		f := l.number(kv.Value, "cutover "+what)
		switch {
		case f == nil:
			valid = false
		case *f < 0 || *f > 1 || open && (*f == 0 || *f == 1):
			l.errAt(kv.Value, "cutover %s: %v is not a fraction between 0 and 1", what, *f)
			valid = false
		default:
			*dst = *f
		}
	}
	count := func(kv *ast.MappingValueNode, what string, dst *int64) {
		f := l.number(kv.Value, "cutover "+what)
		if f == nil || *f < 0 || *f != float64(int64(*f)) {
			if f != nil {
				l.errAt(kv.Value, "cutover %s: %v is not a whole number", what, *f)
			}
			valid = false
			return
		}
		*dst = int64(*f)
	}
	dur := func(kv *ast.MappingValueNode, what string, dst *time.Duration) {
		s := l.str(kv.Value, "cutover "+what)
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			l.errAt(kv.Value, "cutover %s: %q is not a duration (write 10m, 30s, …)", what, s)
			valid = false
			return
		}
		*dst = d
	}
	for _, kv := range kvs {
		switch l.key(kv, cutoverKeys) {
		case "steps":
			if steps, ok := l.cutoverSteps(kv.Value); ok {
				p.Steps = steps
			} else {
				valid = false
			}
		case "min_exchanges":
			count(kv, "min_exchanges", &p.MinExchanges)
		case "hold":
			dur(kv, "hold", &p.Hold)
		case "max_mismatch_rate":
			rate(kv, "max_mismatch_rate", &p.MaxMismatchRate, false)
		case "max_error_rate":
			rate(kv, "max_error_rate", &p.MaxErrorRate, false)
		case "confidence":
			rate(kv, "confidence", &p.Confidence, true)
		case "fallback_burst":
			count(kv, "fallback_burst", &p.FallbackBurst)
		case "fallback_window":
			dur(kv, "fallback_window", &p.FallbackWindow)
		case "":
			valid = false
		}
	}
	if !valid {
		return nil
	}
	return p
}

// String describes the plan in one line, for logs and status.
func (p *CutoverPlan) String() string {
	return fmt.Sprintf("steps %v, min %d exchanges, hold %s, mismatch ≤ %g, errors ≤ %g at %g confidence",
		p.Steps, p.MinExchanges, p.Hold, p.MaxMismatchRate, p.MaxErrorRate, p.Confidence)
}

// cutoverSteps reads a plan's steps: shares, each above the one before, up
// to 1. It reports false after naming what is wrong.
func (l *loader) cutoverSteps(n ast.Node) ([]float64, bool) {
	seq, ok := l.value(n).(*ast.SequenceNode)
	if !ok || len(seq.Values) == 0 {
		l.errAt(n, "cutover steps: expected a list of shares, such as [0.01, 0.1, 0.5, 1.0]")
		return nil, false
	}
	var steps []float64
	valid := true
	for _, item := range seq.Values {
		f := l.number(item, "cutover steps")
		if f == nil {
			valid = false
			continue
		}
		if *f <= 0 || *f > 1 || len(steps) > 0 && *f <= steps[len(steps)-1] {
			l.errAt(item, "cutover steps: %v: each step is a share above the one before, up to 1", *f)
			valid = false
			continue
		}
		steps = append(steps, *f)
	}
	return steps, valid
}
