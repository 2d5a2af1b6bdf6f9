package store_test

import (
	"context"
	"testing"

	"github.com/tandemproxy/tandem/store"
)

func TestDB_ChangeCutover(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.dsn(t)
		db := mustOpenDSN(t, dsn)
		ep := "GET /items/{id}"
		if err := db.ChangeCutover(ctx, store.CutoverState{Endpoint: ep, Share: 0.01, Step: 0, State: "serving"},
			store.CutoverEvent{Actor: "operator", Action: "start", Reason: "tandem cutover promote"}); err != nil {
			t.Fatal(err)
		}
		if err := db.ChangeCutover(ctx, store.CutoverState{Endpoint: ep, Share: 0.1, Step: 1, State: "serving", Evidence: `{"exchanges":300}`},
			store.CutoverEvent{Actor: "controller", Action: "promote", Reason: "upper bound under 1%"}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		// Durable: a reopened database (a restarted proxy) reads it back.
		db, err := store.Open(ctx, dsn, store.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		states, err := db.CutoverStates(ctx)
		if err != nil || len(states) != 1 || states[0].Share != 0.1 || states[0].Step != 1 || states[0].State != "serving" || states[0].Evidence != `{"exchanges":300}` {
			t.Fatalf("states %+v, %v", states, err)
		}
		evs, err := db.CutoverEvents(ctx, ep)
		if err != nil || len(evs) != 2 {
			t.Fatalf("events %+v, %v", evs, err)
		}
		if e := evs[1]; e.FromState != "serving" || e.FromShare != 0.01 || e.ToShare != 0.1 || e.Actor != "controller" || e.Reason == "" || e.Evidence != `{"exchanges":300}` {
			t.Errorf("audit row %+v", e)
		}
		if e := evs[0]; e.FromState != "shadow" || e.FromShare != 0 || e.ToState != "serving" {
			t.Errorf("first audit row %+v", e)
		}
	})
}
