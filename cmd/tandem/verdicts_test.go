package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/stats"
	"github.com/tandemproxy/tandem/store"
)

// itemService is a JSON service whose noise is known exactly. Each answer
// to GET /items/{id} is a function of the instance (salt), the id and how
// many times the instance was asked for that id, so that every run of a
// test sees the same answers whatever the order the requests arrive in:
//
//   - price is 100+id, but on 3% of calls something else (legacy's own
//     rare noise); with bugs, the candidate adds 1 for 40% of the ids (a
//     regression hidden in the noise);
//   - ts is "t0", but on 15% of calls a fresh token (pure noise);
//   - nonce is a fresh token on every call (legacy always differs from
//     itself there); with bugs, the candidate drops it (a removed value
//     that legacy's varying value does not explain).
type itemService struct {
	salt  string
	bugs  bool
	mu    sync.Mutex
	calls map[int]int
}

func (s *itemService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/items/"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	call := s.calls[id]
	s.calls[id]++
	s.mu.Unlock()
	// SHA-256, not FNV: FNV's bits of two keys that differ in their last
	// character are correlated, which made successive calls agree more
	// often than chance.
	hash := func(field string) uint64 {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d/%d", s.salt, field, id, call))
		return binary.BigEndian.Uint64(sum[:8])
	}
	chance := func(field string) float64 { return float64(hash(field)>>11) / (1 << 53) }
	price := 100 + id
	if chance("price") < 0.03 {
		price = 10000 + int(hash("price")%10000)
	}
	ts := "t0"
	if chance("ts") < 0.15 {
		ts = fmt.Sprintf("t%x", hash("ts"))
	}
	body := map[string]any{"id": id, "ts": ts, "nonce": fmt.Sprintf("%x", hash("nonce"))}
	if s.bugs {
		if id%5 < 2 {
			price++
		}
		delete(body, "nonce")
	}
	body["price"] = price
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func itemServer(t *testing.T, salt string, bugs bool) string {
	t.Helper()
	s := httptest.NewServer(&itemService{salt: salt, bugs: bugs, calls: map[int]int{}})
	t.Cleanup(s.Close)
	return s.URL
}

// itemTraffic writes n requests for GET /items/{id} as NDJSON.
func itemTraffic(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"request":{"method":"GET","url":"/items/%d"}}`+"\n", i)
	}
	p := filepath.Join(dir, "traffic.ndjson")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func itemRules(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(p, []byte("version: 1\nendpoints:\n  - match: GET /items/{id}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fieldsOf reads the report of a database and returns its fields by
// pattern.
func fieldsOf(t *testing.T, db string) map[string]store.Field {
	f, _ := reportOf(t, db)
	return f
}

// reportOf reads the report of a database and returns its fields, and the
// rates at which the secondary differed from legacy, by pattern.
func reportOf(t *testing.T, db string) (map[string]store.Field, map[string]float64) {
	t.Helper()
	code, out, errOut := runTandem(t, context.Background(), "report", "--db", db, "--format", "json")
	if code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	var r store.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	got, noisy := map[string]store.Field{}, map[string]float64{}
	for _, e := range r.Endpoints {
		for _, f := range e.Fields {
			got[f.Pattern] = f
		}
		for _, f := range e.NoisyFields {
			noisy[f.Pattern] = f.Rate
		}
	}
	return got, noisy
}

// TestVerdicts_EndToEnd replays the same traffic against real loopback
// services twice: once with a secondary, once without one but with a
// baseline learned from legacy alone, and holds both reports to the same
// verdicts.
func TestVerdicts_EndToEnd(t *testing.T) {
	const n = 400
	dir := t.TempDir()
	ctx := context.Background()
	traffic, rulesFile := itemTraffic(t, dir, n), itemRules(t, dir)
	legacy, secondary := itemServer(t, "legacy", false), itemServer(t, "secondary", false)
	candidate := itemServer(t, "candidate", true)
	want := map[string]stats.Verdict{
		"$.price": stats.Regression, // hidden in legacy's own noise
		"$.nonce": stats.Regression, // removed where legacy only ever changes it
		"$.ts":    stats.Noise,
	}
	check := func(t *testing.T, got map[string]store.Field, test string) {
		t.Helper()
		for p, v := range want {
			f, ok := got[p]
			if !ok {
				t.Errorf("%s is not among the fields: %+v", p, got)
				continue
			}
			if f.Verdict != v || f.Test != test {
				t.Errorf("%s: verdict %s on the %s test, want %s on the %s test (%+v)", p, f.Verdict, f.Test, v, test, f.FieldVerdict)
			}
		}
	}

	paired := filepath.Join(dir, "paired.db")
	t.Run("Secondary", func(t *testing.T) {
		code, out, errOut := runTandem(t, ctx, "replay", "--from", traffic, "--rules", rulesFile, "--legacy", legacy,
			"--secondary", secondary, "--candidate", candidate, "--db", paired, "--gate", "statistical")
		if code != exitFail {
			t.Fatalf("exit %d, want %d (regressions fail the statistical gate): %s %s", code, exitFail, out, errOut)
		}
		if !strings.Contains(out, "regression") || !strings.Contains(out, "--gate statistical") {
			t.Errorf("the text report does not show the verdicts:\n%s", out)
		}
		got := fieldsOf(t, paired)
		check(t, got, store.TestPaired)
		// The regression is hidden in noise: some of its exchanges differ
		// where the secondary differs too.
		if f := got["$.price"]; f.Both == 0 || f.Noise == 0 {
			t.Errorf("$.price: both %d, noise %d: want some exchanges judged noise", f.Both, f.Noise)
		}
		// At a false discovery rate of 10⁻⁵⁰, the hidden regression (p ≈
		// 10⁻³⁹) is no longer one.
		code, out, _ = runTandem(t, ctx, "report", "--db", paired, "--format", "json", "--fdr", "1e-50")
		var strict store.Report
		if err := json.Unmarshal([]byte(out), &strict); code != 0 || err != nil {
			t.Fatalf("report --fdr: exit %d, %v", code, err)
		}
		for _, f := range strict.Endpoints[0].Fields {
			if f.Pattern == "$.price" && f.Verdict == stats.Regression {
				t.Errorf("$.price at --fdr 1e-50: %+v", f.FieldVerdict)
			}
		}
		if strict.Verdicts.Q != 1e-50 {
			t.Errorf("verdicts %+v: want q 1e-50", strict.Verdicts)
		}
		// Exchange by exchange, nonce would be noise: legacy always
		// differs from itself there.
		if f := got["$.nonce"]; f.OnlyCandidate != n {
			t.Errorf("$.nonce: only candidate %d, want %d (every removal)", f.OnlyCandidate, n)
		}
	})

	t.Run("PureNoisePasses", func(t *testing.T) {
		// A candidate without the bugs: ts still differs in some exchanges
		// where the secondary agrees with legacy, which fails the count
		// gate and not the statistical one.
		good := itemServer(t, "good", false)
		db := filepath.Join(dir, "good.db")
		args := []string{"replay", "--from", traffic, "--rules", rulesFile, "--legacy", legacy, "--secondary", secondary, "--candidate", good, "--db", db}
		if code, out, _ := runTandem(t, ctx, args...); code != exitFail {
			t.Fatalf("count gate: exit %d, want %d: noise fails it\n%s", code, exitFail, out)
		}
		if code, out, errOut := runTandem(t, ctx, append(args, "--gate", "statistical")...); code != 0 {
			t.Fatalf("statistical gate: exit %d, want 0: %s %s", code, out, errOut)
		}
		for p, f := range fieldsOf(t, db) {
			if f.Verdict == stats.Regression {
				t.Errorf("%s judged a regression with an identical candidate: %+v", p, f.FieldVerdict)
			}
		}
	})

	base := filepath.Join(dir, "base.db")
	t.Run("Baseline", func(t *testing.T) {
		code, out, errOut := runTandem(t, ctx, "baseline", "--from", traffic, "--rules", rulesFile, "--legacy", legacy, "--db", base)
		if code != 0 {
			t.Fatalf("baseline: exit %d: %s %s", code, out, errOut)
		}
		code, out, _ = runTandem(t, ctx, "baseline", "show", "--db", base, "--format", "json")
		if code != 0 {
			t.Fatalf("baseline show: exit %d", code)
		}
		var b store.Baseline
		if err := json.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Endpoints) != 1 || b.Endpoints[0].Endpoint != "GET /items/{id}" || b.Endpoints[0].Compared != 2*n || b.Endpoints[0].Runs != 2 {
			t.Fatalf("baseline %+v: want GET /items/{id} compared %d times in 2 runs", b, 2*n)
		}
		e := &b.Endpoints[0]
		// Two calls differ when either is noisy: 1 − (1−r)².
		for p, r := range map[string]float64{"$.nonce": 1, "$.ts": 1 - 0.85*0.85, "$.price": 1 - 0.97*0.97} {
			if got := e.Pattern(p).Rate; math.Abs(got-r) > 0.05 {
				t.Errorf("%s: learned rate %.3f, want %.3f ± 0.05", p, got, r)
			}
		}
		if code, out, _ := runTandem(t, ctx, "baseline", "show", "--db", base); code != 0 || !strings.Contains(out, "$.nonce") {
			t.Errorf("baseline show: exit %d\n%s", code, out)
		}
	})

	t.Run("SameVerdictsWithoutSecondary", func(t *testing.T) {
		db := filepath.Join(dir, "unpaired.db")
		code, out, errOut := runTandem(t, ctx, "replay", "--from", traffic, "--rules", rulesFile, "--legacy", legacy,
			"--candidate", candidate, "--db", db, "--baseline", base, "--gate", "statistical")
		if code != exitFail {
			t.Fatalf("exit %d, want %d: %s %s", code, exitFail, out, errOut)
		}
		got := fieldsOf(t, db)
		_, secondaryRate := reportOf(t, paired)
		check(t, got, store.TestBaseline)
		// The documented tolerance: the same verdict on every pattern, and
		// legacy's own rate (learned, and seen by the secondary) within 5
		// points.
		for p := range want {
			f, seen := got[p], secondaryRate[p]
			if math.Abs(f.BaselineRate-seen) > 0.05 {
				t.Errorf("%s: baseline rate %.3f, secondary's %.3f: more than 5 points apart", p, f.BaselineRate, seen)
			}
		}
		if f := got["$.nonce"]; f.Unexplained != n {
			t.Errorf("$.nonce: %d unexplained removals, want %d", f.Unexplained, n)
		}
	})

	t.Run("RulesSuggest", func(t *testing.T) {
		code, out, errOut := runTandem(t, ctx, "rules", "suggest", "--db", base)
		if code != 0 || !strings.Contains(out, `"$.nonce"`) || !strings.Contains(out, `"$.ts"`) {
			t.Errorf("rules suggest from a baseline: exit %d\n%s%s", code, out, errOut)
		}
	})
}

func TestBaseline_Usage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	legacy := itemServer(t, "legacy", false)
	traffic := itemTraffic(t, dir, 3)
	empty := tandemDB(t)
	down := "http://" + closedAddr(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"NoFrom", []string{"baseline", "--legacy", legacy}, exitUsage, "--from SOURCE is required"},
		{"NoLegacy", []string{"baseline", "--from", traffic}, exitUsage, "--legacy URL is required"},
		{"NoRuns", []string{"baseline", "--from", traffic, "--legacy", legacy, "--runs", "0"}, exitUsage, "--runs 0: want at least 1"},
		{"LegacyDown", []string{"baseline", "--from", traffic, "--legacy", down, "--db", filepath.Join(dir, "b.db")}, exitFail,
			"answered no request twice: nothing was learned"},
		{"ShowFormat", []string{"baseline", "show", "--db", empty, "--format", "yaml"}, exitUsage, `--format "yaml": want text or json`},
		{"ShowMissing", []string{"baseline", "show", "--db", filepath.Join(dir, "nope.db")}, exitUsage, "no such database"},
		{"ReplayGate", []string{"replay", "--from", traffic, "--candidate", legacy, "--gate", "strict"}, exitUsage,
			`--gate "strict": want count or statistical`},
		{"ReplayFDR", []string{"replay", "--from", traffic, "--candidate", legacy, "--fdr", "5"}, exitUsage, "--fdr 5: want a rate between 0 and 1"},
		{"ReportFDR", []string{"report", "--db", empty, "--fdr", "0"}, exitUsage, "--fdr 0: want a rate between 0 and 1"},
		{"ReplayBaselineIsDB", []string{"replay", "--from", traffic, "--candidate", legacy, "--db", empty, "--baseline", empty}, exitUsage,
			"is --db, which every replay replaces"},
		{"ReplayNoBaseline", []string{"replay", "--from", traffic, "--legacy", legacy, "--candidate", legacy, "--db", filepath.Join(dir, "r.db"),
			"--baseline", empty}, exitUsage, "holds no baseline: learn one with tandem baseline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runTandem(t, ctx, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
	t.Run("ShowEmpty", func(t *testing.T) {
		code, out, _ := runTandem(t, ctx, "baseline", "show", "--db", empty)
		if code != 0 || !strings.Contains(out, "holds no baseline") {
			t.Errorf("exit %d: %s", code, out)
		}
	})
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestWriteBaseline(t *testing.T) {
	b := &store.Baseline{Endpoints: []store.BaselineEndpoint{
		{Endpoint: "GET /items/{id}", Compared: 800, Runs: 2, Source: "traffic.ndjson", Learned: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
			Patterns: []store.BaselinePattern{{Pattern: "$.nonce", Differs: 800, Rate: 1}, {Pattern: "$.opt", Differs: 40, Presence: 40, Rate: 0.05},
				{Pattern: "$.n", Differs: 8, Type: 8, Rate: 0.01}}},
		{Endpoint: "GET /", Compared: 10, Runs: 1, Source: "t.har", Learned: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)},
	}}
	var out strings.Builder
	if err := writeBaseline(&out, b); err != nil {
		t.Fatal(err)
	}
	want := `GET /items/{id}: 800 comparisons of legacy with itself (2 runs of traffic.ndjson, 2026-05-01T12:00:00Z)
    100.00%  $.nonce                                  800 of 800
      5.00%  $.opt                                    40 of 800 · present in one answer only 40
      1.00%  $.n                                      8 of 800 · type changed 8

GET /: 10 comparisons of legacy with itself (1 run of t.har, 2026-05-01T12:00:00Z)
    legacy always agreed with itself
`
	if d := cmp.Diff(want, out.String()); d != "" {
		t.Errorf("baseline text (-want +got):\n%s", d)
	}
}
