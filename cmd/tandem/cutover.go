package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"text/tabwriter"

	"github.com/tandemproxy/tandem/cutover"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/store"
)

type cutoverCmd struct{ env }

const cutoverUsage = `tandem cutover status|promote|rollback|pause|resume --db tandem.db [--endpoint "GET /path"] [--format text|json]

Shows or changes each endpoint's strangler cutover (README, "Cutover"). A running proxy
on the same database adopts a change within a second (it reads the database every
500ms); every change is recorded with its time and reason. promote, rollback, pause and
resume need --endpoint.`

func (c *cutoverCmd) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return usagef("tandem cutover: want status, promote, rollback, pause or resume\n\n%s", cutoverUsage)
	}
	action := args[0]
	fs := newFlags("cutover "+action, c.env, cutoverUsage)
	dbPath := fs.String("db", "tandem.db", "SQLite `file` the proxy records to")
	endpoint := fs.String("endpoint", "", "the endpoint, as its rule's match string (\"GET /items/{id}\")")
	format := fs.String("format", "text", "status: text or json")
	reason := fs.String("reason", "", "why, for the audit trail (default: the command)")
	if err := parse(fs, args[1:], false); err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbPath, store.Options{MustExist: true})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	switch action {
	case "status":
		if *format != "text" && *format != "json" {
			return usagef("--format %q: want text or json", *format)
		}
		return c.status(ctx, db, *endpoint, *format)
	case "promote", "rollback", "pause", "resume":
		if *endpoint == "" {
			return usagef("tandem cutover %s: --endpoint is required", action)
		}
		if err := cutover.Operate(ctx, db, *endpoint, cutover.Action(action), *reason); err != nil {
			return usageError{err}
		}
		return c.status(ctx, db, *endpoint, "text")
	}
	return usagef("tandem cutover %q: want status, promote, rollback, pause or resume", action)
}

// cutoverStatus is one line of tandem cutover status --format json.
type cutoverStatus struct {
	Endpoint string          `json:"endpoint"`
	Share    float64         `json:"share"`
	Step     int             `json:"step"`
	State    string          `json:"state"`
	Evidence json.RawMessage `json:"evidence"`
}

func (c *cutoverCmd) status(ctx context.Context, db *store.DB, endpoint, format string) error {
	states, err := db.CutoverStates(ctx)
	if err != nil {
		return err
	}
	out := []cutoverStatus{}
	for _, s := range states {
		if endpoint != "" && s.Endpoint != endpoint {
			continue
		}
		ev := json.RawMessage(s.Evidence)
		if !json.Valid(ev) {
			ev = json.RawMessage("{}")
		}
		out = append(out, cutoverStatus{Endpoint: s.Endpoint, Share: s.Share, Step: s.Step, State: s.State, Evidence: ev})
	}
	if endpoint != "" && len(out) == 0 {
		return usagef("%s: no cutover recorded in this database", endpoint)
	}
	if format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tSTATE\tSHARE\tSTEP\tEVIDENCE")
	for _, s := range out {
		var ev cutover.Evidence
		json.Unmarshal(s.Evidence, &ev)
		fmt.Fprintf(tw, "%s\t%s\t%g\t%d\t%d exchanges, %d mismatches (≤ %.4f), %d errors (≤ %.4f), %d fallbacks\n",
			s.Endpoint, s.State, s.Share, s.Step, ev.Exchanges, ev.Mismatches, ev.MismatchUpper, ev.Errors, ev.ErrorUpper, ev.Fallbacks)
	}
	return tw.Flush()
}

// startCutover resumes the recorded cutover and runs its controller in the
// proxy until ctx is done; the returned stop waits for it (before the
// database is closed).
func startCutover(ctx context.Context, ctl *cutover.Controller, p *mirror.Proxy) (stop func(), err error) {
	ctl.Attach(p)
	if err := ctl.Load(ctx); err != nil {
		return nil, fmt.Errorf("cutover: %w", err)
	}
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); ctl.Run(cctx, 0, 0) }()
	return func() { cancel(); wg.Wait() }, nil
}

func newCutover(db *store.DB, log *slog.Logger) *cutover.Controller {
	return cutover.NewController(db, nil, log)
}
