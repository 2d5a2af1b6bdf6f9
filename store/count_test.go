package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

func TestDB_CountExchanges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		proxy := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
		for i, o := range []tandem.Outcome{tandem.Match, tandem.Mismatch, tandem.Match, tandem.Noise} {
			ex := exchange("GET /a", o)
			ex.Time = time.Unix(1700000000+int64(i)*60, 0)
			proxy.Record(ex, nil)
		}
		proxy.Record(exchange("GET /b", tandem.Mismatch), nil)
		proxy.Close()
		replay := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Source: "replay"})
		replay.Record(exchange("GET /b", tandem.Match), nil)
		replay.Close()

		tests := []struct {
			name string
			f    store.Filter
			want int64
		}{
			{"All", store.Filter{}, 6},
			{"Endpoint", store.Filter{Endpoint: "GET /a"}, 4},
			{"Outcomes", store.Filter{Outcomes: []tandem.Outcome{tandem.Mismatch, tandem.Noise}}, 3},
			{"Since", store.Filter{Endpoint: "GET /a", Since: time.Unix(1700000000+120, 0)}, 2},
			{"PagingIgnored", store.Filter{Endpoint: "GET /a", AfterID: 3, Limit: 1}, 4},
			{"None", store.Filter{Endpoint: "GET /c"}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				n, err := db.CountExchanges(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if n != tt.want {
					t.Errorf("count %d, want %d", n, tt.want)
				}
			})
		}

		src, err := db.Sources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]int64{"proxy": 5, "replay": 1}, src); d != "" {
			t.Errorf("sources (-want +got):\n%s", d)
		}
	})
}
