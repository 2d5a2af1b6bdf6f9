package diff_test

import (
	"bytes"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
)

// The benchmarks of the performance issue: JSON pairs of 1 KiB, 16 KiB and
// 256 KiB, identical, with one field different, with many fields different,
// and with five ignore rules; and 4 KiB pairs with one difference, whose
// comparisons per second on one core are reported as comparisons/s.
//
//	go test -run XXX -bench . -benchmem -cpu 1 ./diff
//
// CI runs them once (-benchtime=1x) so that they keep compiling and running;
// speed is never asserted in a test.

// benchItem is one element of a generated catalogue: the shape of a typical
// JSON API answer (ids, names, prices, timestamps, nested objects, tags).
func benchItem(b *bytes.Buffer, i int, price string) {
	fmt.Fprintf(b, `{"id":%d,"sku":"SKU-%06d","name":"Item number %d","price":%s,"currency":"EUR",`+
		`"updatedAt":"2024-05-01T10:%02d:%02dZ","etag":"W/\"%08x\"","stock":{"warehouse":"north-%d","count":%d},`+
		`"tags":["a%d","b%d","c"],"active":%t,"ratio":0.%d}`,
		i, i, i, price, i%60, i%60, i*2654435761, i%4, i*7%1000, i%9, i%5, i%3 == 0, 1000+i%9000)
}

// benchItemReordered is benchItem with every object's members in another
// order (as a rewrite in another framework writes them) and the tags
// array reversed: the same item as JSON, under unordered tags.
func benchItemReordered(b *bytes.Buffer, i int, price string) {
	fmt.Fprintf(b, `{"active":%t,"currency":"EUR","etag":"W/\"%08x\"","id":%d,"name":"Item number %d","price":%s,`+
		`"ratio":0.%d,"sku":"SKU-%06d","stock":{"count":%d,"warehouse":"north-%d"},"tags":["c","b%d","a%d"],`+
		`"updatedAt":"2024-05-01T10:%02d:%02dZ"}`,
		i%3 == 0, i*2654435761, i, i, price, 1000+i%9000, i, i*7%1000, i%4, i%5, i%9, i%60, i%60)
}

// benchDoc builds a document of about size bytes. change(i) may replace an
// item's price, to make the candidate differ there.
func benchDoc(size int, change func(i int) string) []byte {
	return benchDocOf(size, benchItem, -1, change)
}

// benchDocOf builds a document of about size bytes from item; with items
// ≥ 0 it holds exactly that many items instead.
func benchDocOf(size int, item func(*bytes.Buffer, int, string), items int, change func(i int) string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"total":0,"page":1,"items":[`)
	for i := 0; items < 0 && b.Len() < size-64 || i < items; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		price := strconv.Itoa(10+i%90) + ".5"
		if change != nil {
			if p := change(i); p != "" {
				price = p
			}
		}
		item(&b, i, price)
	}
	b.WriteString(`],"traceId":"0af7651916cd43dd8448eb211c80319c"}`)
	return b.Bytes()
}

// benchPair is a legacy and a candidate answer with the same body sizes.
type benchPair struct {
	legacy, candidate *tandem.Response
}

func pairOf(a, b []byte) benchPair {
	return benchPair{legacy: jsonResp(string(a)), candidate: jsonResp(string(b))}
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"256KiB", 256 << 10}}

// benchCases are the cases for one size. "Reordered" is the common
// case of a rewrite: the same data with keys in another order, so every
// comparison parses both bodies and matches.
func benchCases(size int) []struct {
	name string
	opts diff.Options
	pair benchPair
	// wantDiffs is how many differences the comparison must find: a
	// benchmark that compares the wrong thing fails instead of measuring it.
	wantDiffs int
} {
	legacy := benchDoc(size, nil)
	same := bytes.Clone(legacy)
	reordered := bytes.Replace(legacy, []byte(`{"total":0,"page":1,`), []byte(`{"page":1,"total":0,`), 1)
	one := benchDoc(size, func(i int) string {
		if i == 3 {
			return "99.99"
		}
		return ""
	})
	many := benchDoc(size, func(i int) string {
		if i%2 == 0 {
			return "1.25"
		}
		return ""
	})
	items := bytes.Count(legacy, []byte(`"sku"`))
	manyDiffs := min((items+1)/2, diff.DefaultMaxDiffs)
	// Five ignore rules, of which one silences the one difference.
	ignore := paths("$.items[*].price", "$..etag", "$.traceId", "$.items[*].updatedAt", "$..ratio")
	// Deep: every object of the candidate has its members in another order
	// (nothing below the root is byte-identical), and the same with one
	// price changed. Rules: what a real rule set turns on at once, ignore
	// paths, unordered arrays and tolerances, none of which hides the one
	// difference.
	deep := benchDocOf(0, benchItemReordered, items, nil)
	deepOne := benchDocOf(0, benchItemReordered, items, func(i int) string {
		if i == 3 {
			return "99.99"
		}
		return ""
	})
	rules := diff.Options{
		Ignore:     paths("$..etag", "$.traceId", "$.items[*].updatedAt"),
		Unordered:  paths("$.items[*].tags", "$..labels"),
		Tolerances: []diff.Tolerance{{Path: diff.MustParsePath("$..ratio"), Absolute: 1e-6}, {Path: diff.MustParsePath("$.items[*].price"), Relative: 1e-9}},
	}
	return []struct {
		name      string
		opts      diff.Options
		pair      benchPair
		wantDiffs int
	}{
		{"Identical", diff.Options{}, pairOf(legacy, same), 0},
		{"Reordered", diff.Options{}, pairOf(legacy, reordered), 0},
		{"OneField", diff.Options{}, pairOf(legacy, one), 1},
		{"ManyFields", diff.Options{}, pairOf(legacy, many), manyDiffs},
		{"FiveIgnoreRules", diff.Options{Ignore: ignore}, pairOf(legacy, one), 0},
		{"ReorderedRules", rules, pairOf(legacy, reordered), 0},
		{"OneFieldRules", rules, pairOf(legacy, one), 1},
		{"DeepReordered", diff.Options{Unordered: paths("$.items[*].tags")}, pairOf(legacy, deep), 0},
		{"DeepReorderedRules", rules, pairOf(legacy, deep), 0},
		{"DeepOneFieldRules", rules, pairOf(legacy, deepOne), 1},
	}
}

func BenchmarkCompare(b *testing.B) {
	for _, engine := range engines {
		for _, s := range benchSizes {
			for _, tc := range benchCases(s.size) {
				if engine == diff.Cmp && s.size > 16<<10 {
					continue // the oracle: reflection over decoded JSON, shown for scale at small sizes
				}
				c := diff.NewEngine(tc.opts, engine)
				b.Run(fmt.Sprintf("%s/%s/%s", engine, s.name, tc.name), func(b *testing.B) {
					runCompare(b, c, tc.pair, tc.wantDiffs)
				})
			}
		}
	}
}

// BenchmarkCompare4KiBOneDifference is the throughput target: 4 KiB
// pairs with one difference, comparisons per second on one core (run with
// -cpu 1).
func BenchmarkCompare4KiBOneDifference(b *testing.B) {
	legacy := benchDoc(4<<10, nil)
	cand := benchDoc(4<<10, func(i int) string {
		if i == 1 {
			return "0.01"
		}
		return ""
	})
	runCompare(b, diff.New(diff.Options{}), pairOf(legacy, cand), 1)
}

func runCompare(b *testing.B, c *diff.Comparer, p benchPair, want int) {
	ds, err := c.Compare(p.legacy, p.candidate)
	if err != nil || len(ds) != want {
		b.Fatalf("Compare: %d differences (%v), want %d: %v", len(ds), err, want, ds)
	}
	size := int64(len(p.legacy.Body) + len(p.candidate.Body))
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Compare(p.legacy, p.candidate); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "comparisons/s")
	// MB/s counts wall time, which on a shared machine includes the time
	// other processes held the core. MB/cpu-s counts the CPU time this
	// process used (GC included): the per-core speed the goals are about.
	// Below a few clock ticks (CI's -benchtime 1x) the figure is noise.
	if cpu := cpuTime(b) - cpu0; cpu >= 50*time.Millisecond {
		b.ReportMetric(float64(size)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
