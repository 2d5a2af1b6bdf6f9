// Command tandem is a shadow-traffic comparator: it serves every request
// from a legacy system, mirrors a copy to its replacement, and records how
// the two answers differ. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // a gate failed (replay found mismatches), or a run failed
	exitUsage = 2 // bad flags, bad rules, bad input files
)

// usageError marks errors that are the user's to fix before anything runs:
// they exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError carries an exit status without a message of its own (the
// command has already said what happened).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// command is one subcommand.
type command interface {
	Run(ctx context.Context, args []string) error
}

// env is what every subcommand writes to.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}))
}

const usage = `tandem compares a legacy service with its replacement on real traffic.

Usage:
  tandem demo     [--db tandem-demo.db]      run everything on built-in sample services
  tandem proxy    --legacy URL --candidate URL [flags]
                                             serve from legacy, mirror to the candidate, record differences
  tandem compare  --legacy URL --candidate URL [flags]
                                             behind a mesh's mirror (Envoy, Istio, nginx): compare its copies
  tandem report   --db tandem.db [--format text|json]
  tandem replay   --from SOURCE --candidate URL [--legacy URL] [flags]
                                             replay recorded traffic (db, HAR, NDJSON, .gor): a CI gate
  tandem baseline --from SOURCE --legacy URL --db tandem.db [--runs 2] | show --db tandem.db
                                             learn how often legacy differs from itself (noise without a secondary)
  tandem cutover  status|promote|rollback|pause|resume --db tandem.db [--endpoint E]
                                             serve a share from the candidate, step by step on evidence
  tandem export   --db tandem.db --format ndjson|har
  tandem rules    check FILE | suggest --db tandem.db
  tandem rediff   --db tandem.db --rules rules.yaml
                                             judge stored exchanges again under changed rules
  tandem merge    --into target.db a.db b.db …
                                             combine databases that instances recorded apart
  tandem tui      --db tandem.db [--rules rules.yaml]
                                             triage differences in the terminal, write ignore rules
  tandem bench    [--duration 10s]           measure tandem's cost against direct and nginx's mirror
  tandem version

Run "tandem COMMAND -h" for a command's flags.
`

func commands(e env) map[string]command {
	return map[string]command{
		"demo":     &demoCmd{env: e},
		"proxy":    &proxyCmd{env: e},
		"compare":  &compareCmd{env: e},
		"report":   &reportCmd{env: e},
		"replay":   &replayCmd{env: e},
		"baseline": &baselineCmd{env: e},
		"cutover":  &cutoverCmd{env: e},
		"export":   &exportCmd{env: e},
		"rules":    &rulesCmd{env: e},
		"rediff":   &rediffCmd{env: e},
		"merge":    &mergeCmd{env: e},
		"tui":      &tuiCmd{env: e},
		"bench":    &benchCmd{env: e},
		"version":  &versionCmd{env: e},
	}
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands(e)[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "tandem: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd.Run(ctx, args[1:])
	return exitCode(e.stderr, args[0], err)
}

func exitCode(stderr io.Writer, name string, err error) int {
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "tandem %s: %v\n", name, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "tandem %s: %v\n", name, err)
		return exitFail
	}
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, e env, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "%s\n\nFlags:\n", summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; bad flags are usage errors. Positional arguments are
// refused unless allowed.
func parse(fs *flag.FlagSet, args []string, positional bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if !positional && fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

type versionCmd struct{ env }

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func (c *versionCmd) Run(ctx context.Context, args []string) error {
	fmt.Fprintln(c.stdout, "tandem", version)
	return nil
}
