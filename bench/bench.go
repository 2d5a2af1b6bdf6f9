// Package bench measures what tandem costs the traffic it serves. It starts
// loopback backends (legacy, and candidates that are healthy, slow, down or
// hung), runs tandem as a real process in front of them, and drives load at
// it, at legacy directly (also with GoReplay capturing legacy's port) and at
// nginx (plain proxy_pass, and with its mirror directive), reporting in one
// run, side by side: requests per second at saturation, latency percentiles
// at a fixed rate, tandem's counters, and its memory with a hung candidate.
// Only ratios measured in the same run are compared: the machines it runs
// on are shared and noisy.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Defaults for Config.
const (
	DefaultDuration    = 10 * time.Second
	DefaultRate        = 1000
	DefaultConnections = 64
	DefaultBodySize    = 4 << 10
	DefaultSlowDelay   = 200 * time.Millisecond
	DefaultStall       = 60 * time.Second
	// DefaultMismatchEvery: one candidate answer in this many differs for
	// real, so that the store records as it would in a real migration.
	DefaultMismatchEvery = 100
	// DefaultRounds: the latency goals compare p99s measured in turns,
	// healthy, slow, down, this many times, and take each one's median, so
	// that a burst of noise on a shared machine lands on one turn, not on
	// one candidate.
	DefaultRounds = 3
)

// Config says what to measure. Zero fields take the defaults; Tandem is
// required.
type Config struct {
	// Tandem is how to run tandem (argv[0] and leading arguments, to which
	// "proxy" and its flags are appended).
	Tandem        []string
	Duration      time.Duration // of each measurement
	Rate          int           // requests/s of the fixed-rate latency runs
	Connections   int           // of the saturation runs
	BodySize      int           // of legacy's answer
	SlowDelay     time.Duration // the slow candidate's delay
	Stall         time.Duration // the hung-candidate run at saturation; negative skips it
	Rounds        int           // of the interleaved latency runs; negative skips them
	MismatchEvery int64
	// Wrk and Nginx are the programs' paths: "" looks them up on PATH, "-"
	// goes without (the built-in generator; no nginx rows).
	Wrk, Nginx string
	Log        io.Writer // progress; nil discards it
	// GoReplay is goreplay's path: "" looks it up on PATH, then in
	// $GOPATH/bin (~/go/bin, where go install puts it); "-" goes without.
	GoReplay string
	// Download is the size of the download streamed through tandem for
	// its peak RSS; StreamSamples the event streams timed per target.
	Download      int64
	StreamSamples int
	// Only, when not empty, limits the run to these rows, by key: direct,
	// tandem, tandem-sample0, nginx, nginx-mirror, goreplay, tandem-slow,
	// nginx-mirror-slow, tandem-down, nginx-mirror-down, stall.
	Only []string
}

// Keys names the rows for Config.Only.
var Keys = []string{"direct", "bare", "bare-nocopy", "tandem", "tandem-sample0", "tandem-reordered", "nginx", "nginx-mirror", "goreplay", "tandem-slow",
	"nginx-mirror-slow", "tandem-down", "nginx-mirror-down", "interleaved", "stall", "stream", "stream-rss"}

func (c *Config) wants(key string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, key)
}

func (c *Config) defaults() {
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Connections <= 0 {
		c.Connections = DefaultConnections
	}
	if c.BodySize <= 0 {
		c.BodySize = DefaultBodySize
	}
	if c.SlowDelay <= 0 {
		c.SlowDelay = DefaultSlowDelay
	}
	if c.Stall == 0 {
		c.Stall = DefaultStall
	}
	if c.MismatchEvery <= 0 {
		c.MismatchEvery = DefaultMismatchEvery
	}
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Download <= 0 {
		c.Download = DefaultDownload
	}
	if c.StreamSamples <= 0 {
		c.StreamSamples = DefaultStreamSamples
	}
	c.Wrk = lookPath(c.Wrk, "wrk")
	c.Nginx = lookPath(c.Nginx, "nginx")
	c.GoReplay = lookGoReplay(c.GoReplay)
}

func lookPath(set, name string) string {
	switch set {
	case "-":
		return ""
	case "":
		p, _ := exec.LookPath(name)
		return p
	}
	return set
}

// Targets that load is driven at.
const (
	Direct      = "direct to legacy"
	Tandem      = "tandem (mirror + compare)"
	Bare        = "bare fasthttp proxy + copy"
	BareNoCopy  = "bare fasthttp proxy"
	TandemNoMir = "tandem --sample 0"
	Nginx       = "nginx proxy_pass"
	NginxMirror = "nginx mirror"
)

// Candidate states. A healthy candidate answers legacy's bytes (one answer
// in MismatchEvery differs: a real mismatch, stored); a reordering one the
// same members in another order, equal as JSON but not as bytes, so that
// every comparison parses both bodies (the costly case: a rewrite in
// another language); a slow one is healthy after SlowDelay.
const (
	Healthy   = "healthy"
	Reordered = "reorders keys"
	Slow      = "slow"
	Down      = "down"
	Hung      = "hung"
)

// Row is one target measured with one candidate.
type Row struct {
	Target, Candidate string
	Saturation        Saturation
	Latency           Latency
	Counters          *Counters // tandem only
	CandidateServed   int64     // requests the candidate received during the row
	PeakRSS           int64     // tandem only: bytes
	// CPUPerRequest is the CPU time the proxy process (tandem, the bare
	// proxy, nginx's master process, not its workers, or goreplay) used per
	// request answered in the saturation run: zero for direct and nginx.
	CPUPerRequest time.Duration
}

// Stall is the hung-candidate run.
type Stall struct {
	Duration   time.Duration
	Saturation Saturation
	Counters   Counters
	PeakRSS    int64
	RSS        []int64 // sampled every second
}

// Result is one whole run.
type Result struct {
	Config  Config
	Machine string
	Tools   []string
	Started time.Time
	Rows    []Row
	Stall   *Stall
	// Interleaved holds the p99 latencies of tandem with a healthy, slow
	// and down candidate measured in turns, Rounds times (see
	// interleave): what the latency goals are judged on.
	Interleaved map[string][]time.Duration
	// Streams are the streaming latency rows; Download the large download
	// through tandem (stream.go).
	Streams  []StreamRow
	Download *Download
}

// MedianP99 returns the median of the interleaved p99s of tandem with a
// candidate in this state, or 0.
func (r *Result) MedianP99(state string) time.Duration {
	ps := slices.Clone(r.Interleaved[state])
	if len(ps) == 0 {
		return 0
	}
	slices.Sort(ps)
	return ps[len(ps)/2]
}

// Row returns the row of a target and candidate, or nil.
func (r *Result) Row(target, candidate string) *Row {
	for i := range r.Rows {
		if r.Rows[i].Target == target && r.Rows[i].Candidate == candidate {
			return &r.Rows[i]
		}
	}
	return nil
}

// Run measures everything the configuration asks for.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if len(cfg.Tandem) == 0 {
		return nil, fmt.Errorf("bench: how to run tandem is not set")
	}
	res := &Result{Config: cfg, Machine: machine(), Started: time.Now(), Tools: tools(ctx, cfg)}

	body := Document(cfg.BodySize, false, false)
	legacy, err := StartBackend(BackendConfig{Body: body})
	if err != nil {
		return nil, err
	}
	defer legacy.Close()
	candidates := map[string]string{}
	backends := map[string]*Backend{}
	for _, c := range []struct {
		name      string
		reordered bool
		delay     time.Duration
	}{{Healthy, false, 0}, {Reordered, true, 0}, {Slow, false, cfg.SlowDelay}} {
		b, err := StartBackend(BackendConfig{Body: Document(cfg.BodySize, c.reordered, false),
			Changed: Document(cfg.BodySize, c.reordered, true), ChangeEvery: cfg.MismatchEvery, Delay: c.delay})
		if err != nil {
			return nil, err
		}
		defer b.Close()
		candidates[c.name] = b.URL()
		backends[c.name] = b
	}
	if candidates[Down], err = DeadURL(); err != nil {
		return nil, err
	}
	hung, err := StartStaller()
	if err != nil {
		return nil, err
	}
	defer hung.Close()
	candidates[Hung] = hung.URL()

	type plan struct{ key, target, candidate string }
	all := []plan{{"direct", Direct, ""}, {"bare", Bare, Healthy}, {"bare-nocopy", BareNoCopy, ""},
		{"tandem", Tandem, Healthy}, {"tandem-sample0", TandemNoMir, Healthy},
		{"tandem-reordered", Tandem, Reordered},
		{"nginx", Nginx, ""}, {"nginx-mirror", NginxMirror, Healthy}, {"goreplay", GoReplay, Healthy},
		{"tandem-slow", Tandem, Slow}, {"nginx-mirror-slow", NginxMirror, Slow},
		{"tandem-down", Tandem, Down}, {"nginx-mirror-down", NginxMirror, Down}}
	for _, p := range all {
		if !cfg.wants(p.key) || cfg.Nginx == "" && strings.HasPrefix(p.key, "nginx") || cfg.GoReplay == "" && p.key == "goreplay" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		fmt.Fprintf(cfg.Log, "bench: %s, candidate %s\n", p.target, cmp.Or(p.candidate, "-"))
		row, err := measure(ctx, cfg, legacy, candidates[p.candidate], backends[p.candidate], p.target)
		if errors.Is(err, errNoCapture) {
			res.Tools = append(res.Tools, "goreplay: no goreplay row: "+err.Error())
			continue
		}
		if err != nil {
			return res, fmt.Errorf("%s (candidate %s): %w", p.target, cmp.Or(p.candidate, "-"), err)
		}
		row.Candidate = p.candidate
		res.Rows = append(res.Rows, *row)
	}
	if cfg.Rounds > 0 && cfg.wants("interleaved") {
		fmt.Fprintf(cfg.Log, "bench: tandem's latency with a healthy, slow and down candidate, in turns, %d rounds\n", cfg.Rounds)
		if res.Interleaved, err = interleave(ctx, cfg, legacy, candidates); err != nil {
			return res, fmt.Errorf("interleaved latency: %w", err)
		}
	}
	if cfg.Stall > 0 && cfg.wants("stall") {
		fmt.Fprintf(cfg.Log, "bench: tandem with a hung candidate, %s at saturation\n", cfg.Stall)
		st, err := stall(ctx, cfg, legacy, candidates[Hung])
		if err != nil {
			return res, fmt.Errorf("hung candidate: %w", err)
		}
		res.Stall = st
	}
	if cfg.wants("stream") {
		if res.Streams, err = streams(ctx, cfg); err != nil {
			return res, fmt.Errorf("streaming rows: %w", err)
		}
	}
	if cfg.wants("stream-rss") {
		if res.Download, err = download(ctx, cfg); err != nil {
			return res, fmt.Errorf("download row: %w", err)
		}
	}
	return res, nil
}

// tools describes what the run measures with: tandem, go, and the peers
// and load generator, or that they were not found.
func tools(ctx context.Context, cfg Config) []string {
	t := []string{"tandem: " + strings.Join(cfg.Tandem, " "), "go: " + runtime.Version()}
	if cfg.Wrk != "" {
		t = append(t, "wrk: "+version(ctx, cfg.Wrk, "-v"))
	} else {
		t = append(t, "wrk: not found; saturation by the built-in closed-loop generator")
	}
	if cfg.Nginx != "" {
		t = append(t, "nginx: "+version(ctx, cfg.Nginx, "-v"))
	} else {
		t = append(t, "nginx: not found; no nginx rows")
	}
	return append(t, goreplayTool(ctx, cfg.GoReplay))
}

// measure runs one target: saturation, then the fixed rate.
// candidate is the candidate's URL, and cb its backend when it answers.
func measure(ctx context.Context, cfg Config, legacy *Backend, candidate string, cb *Backend, target string) (*Row, error) {
	row := &Row{Target: target}
	addr := legacy.Addr
	var p *proc
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	switch target {
	case Tandem, TandemNoMir:
		var extra []string
		if target == TandemNoMir {
			extra = append(extra, "--sample", "0")
		}
		p, err = startTandem(ctx, cfg.Tandem, dir, legacy.URL(), candidate, extra...)
	case Bare, BareNoCopy:
		p, err = startBare(ctx, cfg.Tandem, legacy.URL(), candidate)
	case Nginx:
		p, err = startNginx(ctx, cfg.Nginx, dir, legacy.URL(), "")
	case NginxMirror:
		p, err = startNginx(ctx, cfg.Nginx, dir, legacy.URL(), candidate)
	case GoReplay:
		p, err = startGoReplay(ctx, cfg.GoReplay, legacy.Addr, candidate, cb)
	}
	if err != nil {
		return nil, err
	}
	if p != nil {
		defer p.stop()
		addr = p.addr
	}
	served := func() int64 {
		if cb == nil {
			return 0
		}
		return cb.Served()
	}
	// Warm up: connections, caches, the first SQLite pages.
	Saturate(ctx, addr, cfg.Connections, min(cfg.Duration/5, 2*time.Second))
	if target == GoReplay {
		quiet(cb, cfg.Duration)
	}
	before := served()
	var cpu0 time.Duration
	if p != nil {
		cpu0 = p.cpu()
	}
	if cfg.Wrk != "" {
		if row.Saturation, err = Wrk(ctx, cfg.Wrk, addr, cfg.Connections, cfg.Duration); err != nil {
			return nil, err
		}
	} else {
		row.Saturation = Saturate(ctx, addr, cfg.Connections, cfg.Duration)
	}
	if answered := row.Saturation.Requests - row.Saturation.Errors; p != nil && answered > 0 && target != Nginx && target != NginxMirror {
		row.CPUPerRequest = (p.cpu() - cpu0) / time.Duration(answered)
	}
	if p != nil && p.admin != "" {
		// The queue drains before the fixed-rate run, which must not pay
		// for the saturation run's backlog.
		p.settle(cfg.Duration)
	}
	if target == GoReplay {
		quiet(cb, cfg.Duration)
	}
	row.Latency = AtRate(ctx, addr, cfg.Rate, max(cfg.Connections, cfg.Rate/4), cfg.Duration)
	if target == GoReplay {
		quiet(cb, cfg.Duration)
	}
	row.CandidateServed = served() - before
	if p != nil && p.admin != "" {
		c, err := p.settle(cfg.Duration)
		if err != nil {
			return nil, fmt.Errorf("read tandem's metrics: %w", err)
		}
		row.Counters = &c
		_, row.PeakRSS = p.rss()
	}
	return row, nil
}

// interleave runs a tandem in front of each of the healthy, slow and down
// candidates at once, and measures their latency at the fixed rate in
// turns, cfg.Rounds times.
func interleave(ctx context.Context, cfg Config, legacy *Backend, candidates map[string]string) (map[string][]time.Duration, error) {
	states := []string{Healthy, Slow, Down}
	procs := map[string]*proc{}
	for _, st := range states {
		dir, err := os.MkdirTemp("", "tandem-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		p, err := startTandem(ctx, cfg.Tandem, dir, legacy.URL(), candidates[st])
		if err != nil {
			return nil, err
		}
		defer p.stop()
		procs[st] = p
		Saturate(ctx, p.addr, cfg.Connections, min(cfg.Duration/5, 2*time.Second)) // warm up
		p.settle(cfg.Duration)
	}
	out := map[string][]time.Duration{}
	for range cfg.Rounds {
		for _, st := range states {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			l := AtRate(ctx, procs[st].addr, cfg.Rate, max(cfg.Connections, cfg.Rate/4), cfg.Duration)
			if l.Errors > 0 {
				return out, fmt.Errorf("candidate %s: %d client errors", st, l.Errors)
			}
			out[st] = append(out[st], l.P99)
			// The slow candidate's copies finish before the next turn.
			procs[st].settle(cfg.Duration)
		}
	}
	return out, nil
}

// stall drives tandem at saturation for cfg.Stall with a candidate that
// never answers, sampling tandem's memory every second.
func stall(ctx context.Context, cfg Config, legacy *Backend, hung string) (*Stall, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p, err := startTandem(ctx, cfg.Tandem, dir, legacy.URL(), hung)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	st := &Stall{Duration: cfg.Stall}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				now, _ := p.rss()
				st.RSS = append(st.RSS, now)
			case <-ctx.Done():
				return
			case <-p.exited:
				return
			}
			if time.Duration(len(st.RSS))*time.Second >= cfg.Stall {
				return
			}
		}
	}()
	if cfg.Wrk != "" {
		st.Saturation, err = Wrk(ctx, cfg.Wrk, p.addr, cfg.Connections, cfg.Stall)
	} else {
		st.Saturation = Saturate(ctx, p.addr, cfg.Connections, cfg.Stall)
	}
	<-done
	if err != nil {
		return nil, err
	}
	if st.Counters, _, err = p.counters(); err != nil {
		return nil, err
	}
	_, st.PeakRSS = p.rss()
	return st, nil
}

// machine describes the machine: cores, memory, processor.
func machine() string {
	desc := fmt.Sprintf("%d cores", runtime.NumCPU())
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			desc += fmt.Sprintf(", %.0f GiB memory", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				desc += ", " + strings.TrimSpace(v)
				break
			}
		}
	}
	return desc + ", " + runtime.GOOS + "/" + runtime.GOARCH
}
