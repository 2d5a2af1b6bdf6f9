package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/tandemproxy/tandem/bench"
)

type benchCmd struct {
	env
	// tandem, when set, is how to run tandem (tests run the binary they
	// built); by default this executable.
	tandem []string
}

func (c *benchCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("bench", c.env, "tandem bench [flags]\n\n"+
		"Measures what tandem costs the traffic it serves, against legacy directly and nginx's mirror,\n"+
		"on loopback backends it starts itself; prints Markdown tables (BENCHMARKS.md).")
	duration := fs.Duration("duration", bench.DefaultDuration, "length of each measurement")
	rate := fs.Int("rate", bench.DefaultRate, "requests/s of the fixed-rate latency runs")
	conns := fs.Int("connections", bench.DefaultConnections, "connections of the saturation runs")
	body := sizeFlag(bench.DefaultBodySize)
	fs.Var(&body, "body", "size of legacy's JSON answer")
	slow := fs.Duration("slow", bench.DefaultSlowDelay, "the slow candidate's delay")
	stall := fs.Duration("stall", bench.DefaultStall, "length of the hung-candidate run at saturation (0: skip it)")
	rounds := fs.Int("rounds", bench.DefaultRounds, "rounds of the interleaved latency runs that the p99 goals are judged on (0: skip them)")
	mismatch := fs.Int64("mismatch-every", bench.DefaultMismatchEvery, "one candidate answer in this many differs for real")
	wrk := fs.String("wrk", "", "wrk `program` (default: wrk on PATH; -: the built-in generator)")
	nginx := fs.String("nginx", "", "nginx `program` (default: nginx on PATH; -: no nginx rows)")
	goreplay := fs.String("goreplay", "", "goreplay `program` (default: goreplay on PATH or in ~/go/bin; -: no goreplay row)")
	out := fs.String("out", "", "also write the tables to this `file`")
	only := fs.String("only", "", "run only these rows (comma-separated): "+strings.Join(bench.Keys, ", "))
	download := sizeFlag(bench.DefaultDownload)
	fs.Var(&download, "download", "size of the download streamed through tandem for its peak RSS (row stream-rss)")
	streamSamples := fs.Int("stream-samples", bench.DefaultStreamSamples, "event streams and downloads timed per target (row stream)")
	check := fs.Bool("check", false, "exit with status 1 when a goal is missed")
	// The bare proxy row runs this binary again as its own process.
	bare := fs.Bool("bare-proxy", false, "(internal) serve the bare fasthttp proxy + copy on a loopback port")
	legacy := fs.String("legacy", "", "(internal, with --bare-proxy) legacy `URL`")
	candidate := fs.String("candidate", "", "(internal, with --bare-proxy) candidate `URL`")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *bare {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return bench.BareProxy(ctx, ln, *legacy, *candidate)
	}
	if *duration <= 0 || *rate <= 0 || *conns <= 0 || body <= 0 || *mismatch <= 0 || download <= 0 || *streamSamples <= 0 {
		return usagef("--duration, --rate, --connections, --body, --mismatch-every, --download and --stream-samples must be positive")
	}
	argv := c.tandem
	if argv == nil {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find tandem's own executable: %w", err)
		}
		argv = []string{exe}
	}
	cfg := bench.Config{Tandem: argv, Duration: *duration, Rate: *rate, Connections: *conns, BodySize: int(body),
		SlowDelay: *slow, Stall: *stall, Rounds: *rounds, MismatchEvery: *mismatch, Wrk: *wrk, Nginx: *nginx, GoReplay: *goreplay, Log: c.stderr,
		Download: int64(download), StreamSamples: *streamSamples}
	if *only != "" {
		for _, k := range strings.Split(*only, ",") {
			if !slices.Contains(bench.Keys, k) {
				return usagef("--only %q: want some of %s", k, strings.Join(bench.Keys, ", "))
			}
			cfg.Only = append(cfg.Only, k)
		}
	}
	if *rounds == 0 {
		cfg.Rounds = -1
	}
	if *stall == 0 {
		cfg.Stall = -1
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	command := "tandem bench " + strings.Join(args, " ")
	var buf strings.Builder
	bench.Markdown(&buf, res, strings.TrimSpace(command))
	fmt.Fprint(c.stdout, buf.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(buf.String()), 0o644); err != nil {
			return err
		}
	}
	if *check {
		for _, t := range bench.Targets(res) {
			if t.Met != nil && !*t.Met {
				fmt.Fprintf(c.stderr, "tandem bench: goal missed: %s: %s (target %s)\n", t.Name, t.Measured, t.Goal)
				return exitError{exitFail}
			}
		}
	}
	return nil
}
