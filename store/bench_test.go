package store_test

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
	"github.com/tandemproxy/tandem/store/pgtest"
)

// BenchmarkWriter_Mismatches is the store's throughput target: mismatch
// records with 4 KiB bodies (legacy's and the candidate's), headers and
// three differences each, sustained through the batching writer into a WAL
// database on disk. records/s counts from the first Record to the commit of
// the last batch (Close), so it is what the writer sustains, not what its
// queue absorbs.
//
//	go test -run XXX -bench Writer -benchtime 100000x ./store
func BenchmarkWriter_Mismatches(b *testing.B) {
	for _, size := range []int{1 << 10, 4 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("body=%dKiB", size>>10), func(b *testing.B) {
			db := MustOpen(b)
			exs := benchExchanges(64, size)
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			b.ResetTimer()
			w := db.NewWriter(store.WriterConfig{})
			for i := range b.N {
				// The writer owns what it is given: each record is a copy,
				// as each mirror worker's exchange is its own.
				ex := *exs[i%len(exs)]
				ex.Differences = append([]tandem.Difference(nil), ex.Differences...)
				w.Record(&ex, nil)
			}
			w.Close()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if st := w.Stats(); st.Stored != int64(b.N) || st.Lost != 0 {
				b.Fatalf("stored %d, lost %d of %d", st.Stored, st.Lost, b.N)
			}
			// What a record costs on disk (the file and its WAL), against
			// the 2×size bytes of bodies it holds.
			var disk int64
			for _, p := range []string{db.Path, db.Path + "-wal"} {
				if fi, err := os.Stat(p); err == nil {
					disk += fi.Size()
				}
			}
			b.ReportMetric(float64(disk)/float64(b.N), "disk-bytes/record")
		})
	}
}

// benchExchanges builds n mismatching exchanges over a few endpoints, with
// JSON bodies of about size bytes.
func benchExchanges(n, size int) []*tandem.Exchange {
	body := func(seed int, price string) []byte {
		var b bytes.Buffer
		b.WriteString(`{"items":[`)
		for i := 0; b.Len() < size-40; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%d,"name":"item %d of %d","price":%s}`, i, i, seed, price)
		}
		b.WriteString(`],"page":1}`)
		return b.Bytes()
	}
	json := tandem.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Date", Value: "Wed, 01 May 2024 10:00:00 GMT"}}
	exs := make([]*tandem.Exchange, n)
	for i := range exs {
		ep := fmt.Sprintf("GET /api/items/{id}/v%d", i%8)
		exs[i] = &tandem.Exchange{
			Time:     time.Unix(1700000000+int64(i), 0),
			Endpoint: ep,
			Request: tandem.Request{Method: "GET", URL: fmt.Sprintf("/api/items/%d/v%d?page=1", i, i%8), Host: "api.example",
				Header: tandem.Headers{{Name: "Authorization", Value: "Bearer secret"}, {Name: "Accept", Value: "application/json"}}},
			Legacy:    tandem.Response{Status: 200, Header: json, Body: body(i, "10.5"), Latency: 2 * time.Millisecond},
			Candidate: tandem.Response{Status: 200, Header: json, Body: body(i, "10.50001"), Latency: 3 * time.Millisecond},
			Outcome:   tandem.Mismatch,
			Differences: []tandem.Difference{
				{Path: "$.items[0].price", Pattern: "$.items[*].price", Kind: tandem.Changed, Legacy: "10.5", Candidate: "10.50001"},
				{Path: "$.items[1].price", Pattern: "$.items[*].price", Kind: tandem.Changed, Legacy: "10.5", Candidate: "10.50001"},
				{Path: "$.page", Pattern: "$.page", Kind: tandem.Added, Candidate: "1"},
			},
		}
	}
	return exs
}

// BenchmarkFleet_FourProxies is the fleet's case: four writers (four proxies) at
// once, either into one PostgreSQL database or each into its own SQLite
// file, with the mismatch records of BenchmarkWriter_Mismatches (4 KiB
// bodies). records/s is the four writers' sum, from the first Record to
// the last writer's Close. The PostgreSQL server is a throw-away cluster on
// loopback with its durable defaults (fsync on): a remote server adds its
// round trips, which the writer's batching (one COPY per batch) amortises.
//
//	go test -run XXX -bench Fleet -benchtime 40000x ./store
func BenchmarkFleet_FourProxies(b *testing.B) {
	const writers = 4
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		b.Run("engine="+engine, func(b *testing.B) {
			var dbs [writers]*store.DB
			switch engine {
			case store.EngineSQLite:
				for i := range dbs {
					dbs[i] = MustOpen(b)
				}
			case store.EnginePostgres:
				srv := pgtest.Private(b, pgtest.Options{Durable: true})
				dsn := srv.NewDatabase(b)
				for i := range dbs {
					dbs[i] = mustOpenDSN(b, dsn)
				}
			}
			exs := benchExchanges(64, 4<<10)
			b.SetBytes(int64(2 * 4 << 10))
			b.ResetTimer()
			var wg sync.WaitGroup
			ws := make([]*store.Writer, writers)
			for i := range ws {
				ws[i] = dbs[i].NewWriter(store.WriterConfig{Instance: fmt.Sprintf("proxy-%d", i)})
				wg.Add(1)
				go func(w *store.Writer, n int) {
					defer wg.Done()
					for j := range n {
						ex := *exs[j%len(exs)]
						ex.Differences = append([]tandem.Difference(nil), ex.Differences...)
						w.Record(&ex, nil)
					}
					w.Close()
				}(ws[i], b.N/writers)
			}
			wg.Wait()
			b.StopTimer()
			stored := int64(0)
			for _, w := range ws {
				st := w.Stats()
				if st.Lost != 0 {
					b.Fatalf("a writer lost %d records", st.Lost)
				}
				stored += st.Stored
			}
			if stored != int64(b.N/writers*writers) {
				b.Fatalf("stored %d of %d", stored, b.N/writers*writers)
			}
			b.ReportMetric(float64(stored)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
