package bench

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"
)

// Target is one of the performance issue's goals, judged on a result.
type Target struct {
	Name     string
	Measured string
	Goal     string
	// Met is nil when the run could not measure it (no nginx, no stall run).
	Met *bool
}

// Targets judges a result against the goals. Every goal is a ratio of two
// numbers measured in the same run.
func Targets(r *Result) []Target {
	var ts []Target
	ratio := func(name string, a, b *Row, get func(*Row) float64, goal string, ok func(float64) bool, percent bool) {
		t := Target{Name: name, Goal: goal, Measured: "not measured"}
		if a != nil && b != nil && get(b) > 0 {
			v := get(a) / get(b)
			if percent {
				t.Measured = fmt.Sprintf("%.0f%%", 100*v)
			} else {
				t.Measured = fmt.Sprintf("%.2f×", v)
			}
			met := ok(v)
			t.Met = &met
		}
		ts = append(ts, t)
	}
	rps := func(r *Row) float64 { return r.Saturation.RPS() }
	p99 := func(r *Row) float64 { return float64(r.Latency.P99) }
	tandem := r.Row(Tandem, Healthy)
	ratio("tandem / nginx mirror, requests/s", tandem, r.Row(NginxMirror, Healthy), rps, "≥ 2×", func(v float64) bool { return v >= 2 }, false)
	ratio("tandem / direct, requests/s", tandem, r.Row(Direct, ""), rps, "≥ 38%", func(v float64) bool { return v >= 0.38 }, true)
	ratio("tandem / bare fasthttp proxy + copy (the design's limit), requests/s", tandem, r.Row(Bare, Healthy), rps, "—", func(float64) bool { return true }, true)
	ts[len(ts)-1].Met = nil
	ratio("goreplay capturing legacy's port / direct (its cost on the serving path), requests/s", r.Row(GoReplay, Healthy), r.Row(Direct, ""), rps, "—", func(float64) bool { return true }, true)
	ts[len(ts)-1].Met = nil
	ratio("tandem --sample 0 / nginx proxy_pass, requests/s", r.Row(TandemNoMir, Healthy), r.Row(Nginx, ""), rps, "≥ 0.9×", func(v float64) bool { return v >= 0.9 }, false)
	ratio("tandem --sample 0 / bare fasthttp proxy (the design's limit), requests/s", r.Row(TandemNoMir, Healthy), r.Row(BareNoCopy, ""), rps, "—", func(float64) bool { return true }, true)
	ts[len(ts)-1].Met = nil
	// The latency goals are judged on the interleaved runs when there are
	// some, on the rows otherwise.
	for _, st := range []string{Slow, Down} {
		name := "tandem p99, " + st + " / healthy candidate"
		if h, o := r.MedianP99(Healthy), r.MedianP99(st); h > 0 && o > 0 {
			v := float64(o) / float64(h)
			met := v <= 1.1
			ts = append(ts, Target{Name: name + fmt.Sprintf(" (medians of %d interleaved rounds: %s / %s)", len(r.Interleaved[st]), ms(o), ms(h)),
				Goal: "≤ 1.1×", Measured: fmt.Sprintf("%.2f×", v), Met: &met})
			continue
		}
		ratio(name, r.Row(Tandem, st), tandem, p99, "≤ 1.1×", func(v float64) bool { return v <= 1.1 }, false)
	}
	ratio("nginx mirror p99, slow / healthy candidate (for scale)", r.Row(NginxMirror, Slow), r.Row(NginxMirror, Healthy), p99, "—", func(float64) bool { return true }, false)
	ts[len(ts)-1].Met = nil

	mem := Target{Name: "hung candidate: tandem's peak RSS", Goal: "< 256 MiB", Measured: "not measured"}
	acct := Target{Name: "hung candidate: every request counted (mirrored, dropped, …)", Goal: "all", Measured: "not measured"}
	if s := r.Stall; s != nil {
		mem.Measured = fmt.Sprintf("%.0f MiB over %s", float64(s.PeakRSS)/(1<<20), s.Duration)
		met := s.PeakRSS > 0 && s.PeakRSS < 256<<20
		mem.Met = &met
		c := s.Counters
		acct.Measured = fmt.Sprintf("%d requests = %d mirrored + %d dropped + %d other", c.Requests, c.Mirrored, c.Dropped,
			c.Skipped+c.SampledOut+c.LegacyErrors)
		met2 := c.Accounted() && c.Dropped > 0
		acct.Met = &met2
	}
	dl := Target{Name: "a download streamed through tandem: peak RSS above idle", Goal: "< 64 MiB", Measured: "not measured"}
	if d := r.Download; d != nil {
		dl.Name = fmt.Sprintf("a %d MiB download streamed through tandem, intact: peak RSS above idle", d.Bytes>>20)
		dl.Measured = fmt.Sprintf("%.0f MiB", float64(d.PeakRSS-d.IdleRSS)/(1<<20))
		met := d.Intact && d.PeakRSS > 0 && d.PeakRSS-d.IdleRSS < 64<<20
		dl.Met = &met
	}
	return append(ts, mem, acct, dl)
}

// Markdown writes the result as the tables of BENCHMARKS.md.
func Markdown(w io.Writer, r *Result, command string) {
	cfg := r.Config
	fmt.Fprintf(w, "Run %s with:\n\n```sh\n%s\n```\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), command)
	fmt.Fprintf(w, "- Machine: %s\n", r.Machine)
	for _, t := range r.Tools {
		fmt.Fprintf(w, "- %s\n", t)
	}
	fmt.Fprintf(w, "- Legacy answers a %d-byte JSON document. The healthy candidate answers the same bytes, but one answer in %d "+
		"with a changed value (a mismatch, stored). The candidate that reorders keys answers the same members in another order "+
		"(equal as JSON, not as bytes, so every comparison parses both bodies; the same 1 in %d differs). "+
		"Slow: healthy after %s. Down: connection refused. Hung: accepts, never answers.\n",
		cfg.BodySize, cfg.MismatchEvery, cfg.MismatchEvery, cfg.SlowDelay)
	if r.Row(GoReplay, Healthy) != nil {
		fmt.Fprint(w, "- goreplay: clients reach legacy directly while goreplay captures legacy's port and replays to the candidate; "+
			"\"received\" is the share of the row's requests that reached the candidate; CPU/request is goreplay's.\n")
	}
	fmt.Fprintf(w, "- Saturation: %d connections for %s. Latency: %d requests/s for %s, open loop (latency from each request's scheduled time).\n\n",
		cfg.Connections, cfg.Duration, cfg.Rate, cfg.Duration)

	fmt.Fprintln(w, "| target | candidate | requests/s | p50 | p99 | p99.9 | client errors | mirrored | compared | dropped | candidate errors | peak RSS | CPU/request |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range r.Rows {
		cand := cmp.Or(row.Candidate, "—")
		mirrored, compared, dropped, cerr, rss := "—", "—", "—", "—", "—"
		if c := row.Counters; c != nil {
			mirrored, compared, dropped, cerr = fmt.Sprint(c.Mirrored), fmt.Sprint(c.Compared), fmt.Sprint(c.Dropped), fmt.Sprint(c.CandidateErrors)
			rss = fmt.Sprintf("%.0f MiB", float64(row.PeakRSS)/(1<<20))
		} else if row.Candidate != "" {
			mirrored = fmt.Sprintf("(%d received)", row.CandidateServed)
			if sent := row.Saturation.Requests + row.Latency.Requests; row.Target == GoReplay && sent > 0 {
				mirrored = fmt.Sprintf("(%d received, %.0f%%)", row.CandidateServed, 100*float64(row.CandidateServed)/float64(sent))
			}
		}
		cpu := "—"
		if row.CPUPerRequest > 0 {
			cpu = fmt.Sprintf("%.1f µs", float64(row.CPUPerRequest)/float64(time.Microsecond))
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", row.Target, cand,
			row.Saturation.RPS(), ms(row.Latency.P50), ms(row.Latency.P99), ms(row.Latency.P999),
			row.Saturation.Errors+row.Latency.Errors, mirrored, compared, dropped, cerr, rss, cpu)
	}
	if s := r.Stall; s != nil {
		c := s.Counters
		fmt.Fprintf(w, "| tandem, %s at saturation | hung | %.0f | — | — | — | %d | %d | %d | %d | %d | %.0f MiB | — |\n",
			s.Duration, s.Saturation.RPS(), s.Saturation.Errors, c.Mirrored, c.Compared, c.Dropped, c.CandidateErrors,
			float64(s.PeakRSS)/(1<<20))
	}
	fmt.Fprintln(w, "\n| goal | measured | target | |")
	fmt.Fprintln(w, "|---|---:|---|---|")
	for _, t := range Targets(r) {
		verdict := ""
		if t.Met != nil {
			verdict = map[bool]string{true: "met", false: "**missed**"}[*t.Met]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, t.Measured, t.Goal, verdict)
	}
	if len(r.Interleaved) > 0 {
		fmt.Fprintf(w, "\nInterleaved p99 of tandem at %d requests/s, in turns (healthy, slow, down) round by round:\n\n", cfg.Rate)
		for _, st := range []string{Healthy, Slow, Down} {
			parts := make([]string, len(r.Interleaved[st]))
			for i, d := range r.Interleaved[st] {
				parts[i] = ms(d)
			}
			fmt.Fprintf(w, "- %s: %s (median %s)\n", st, strings.Join(parts, ", "), ms(r.MedianP99(st)))
		}
	}
	if s := r.Stall; s != nil && len(s.RSS) > 0 {
		parts := make([]string, len(s.RSS))
		for i, v := range s.RSS {
			parts[i] = fmt.Sprintf("%.0f", float64(v)/(1<<20))
		}
		fmt.Fprintf(w, "\nRSS of tandem each second with the candidate hung (MiB): %s\n", strings.Join(parts, " "))
	}
	streamMarkdown(w, r)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
