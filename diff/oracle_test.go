package diff_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/diff"
)

// The fast engine is cross-checked against go-cmp: on real bodies with
// random mutations, both must agree on equality, and where no array changes
// length (the one place where the engines align elements differently) on the
// exact set of differences.

type mutation int

const (
	mutChange mutation = iota
	mutDelete
	mutAdd
	mutType
	mutInsert // changes an array's length
	numMutations
)

func loadBodies(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no testdata bodies: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func decode(tb testing.TB, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// mutate changes one randomly chosen value of v in place and reports
// whether it changed an array's length.
func mutate(r *rand.Rand, v any, m mutation) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 || r.IntN(4) == 0 {
			break
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// sort for determinism
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if keys[j] < keys[i] {
					keys[i], keys[j] = keys[j], keys[i]
				}
			}
		}
		k := keys[r.IntN(len(keys))]
		switch {
		case m == mutDelete && r.IntN(3) == 0:
			delete(x, k)
			return x, false
		case m == mutAdd && r.IntN(3) == 0:
			x["added_"+k] = json.Number("1")
			return x, false
		}
		nv, grew := mutate(r, x[k], m)
		x[k] = nv
		return x, grew
	case []any:
		if len(x) == 0 || r.IntN(4) == 0 {
			break
		}
		if m == mutInsert && r.IntN(2) == 0 {
			i := r.IntN(len(x))
			return append(x[:i:i], append([]any{"inserted"}, x[i:]...)...), true
		}
		i := r.IntN(len(x))
		nv, grew := mutate(r, x[i], m)
		x[i] = nv
		return x, grew
	}
	if m == mutType {
		if _, ok := v.(string); ok {
			return json.Number("42"), false
		}
		return "changed type", false
	}
	switch x := v.(type) {
	case string:
		return x + "!", false
	case json.Number:
		if s := string(x); s == "0" || s == "-0" {
			return json.Number("7"), false
		}
		return json.Number(string(x) + "1"), false
	case bool:
		return !x, false
	case nil:
		return "not null", false
	}
	return []any{}, false // a container: replace it
}

func TestFastEngineAgreesWithGoCmp(t *testing.T) {
	bodies := loadBodies(t)
	r := rand.New(rand.NewPCG(1, 2))
	optionSets := []diff.Options{
		{},
		{Ignore: paths("$..url", "$[*].user", "$.owner.id")},
		{Tolerances: []diff.Tolerance{{Path: diff.MustParsePath("$..id"), Absolute: 5}}},
		{Normalize: []diff.Normalizer{{Pattern: regexp.MustCompile(`\d{4}-\d{2}-\d{2}T[0-9:]+Z`), Replace: "<time>"}}},
		{Tolerances: []diff.Tolerance{{Path: diff.MustParsePath("$..*"), Relative: 0.01}}},
		{Unordered: paths("$..*", "$")},
		{Unordered: paths("$[*].labels", "$.items"), Ignore: paths("$..node_id"), Tolerances: []diff.Tolerance{{Path: diff.MustParsePath("$..score"), Absolute: 0.5}}},
		{IgnoreValues: []diff.ValueClass{
			{Path: diff.MustParsePath("$..created_at"), Class: diff.ClassTimestamp},
			{Path: diff.MustParsePath("$..*"), Class: diff.ClassHexID},
			{Path: diff.MustParsePath("$..id"), Class: diff.ClassTimestamp},
		}, Tolerances: []diff.Tolerance{{Path: diff.MustParsePath("$..id"), Absolute: 2}}},
	}
	n := 0
	for name, body := range bodies {
		for round := range 60 {
			m := mutation(round % int(numMutations))
			mutated, grew := mutate(r, decode(t, body), m)
			b, err := json.Marshal(mutated) // also reorders every object's keys
			if err != nil {
				t.Fatal(err)
			}
			for oi, opts := range optionSets {
				a, c := jsonResp(string(body)), jsonResp(string(b))
				fd, err1 := diff.NewEngine(opts, diff.Fast).Compare(a, c)
				sd, err2 := diff.NewEngine(opts, diff.Cmp).Compare(a, c)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s round %d: errors %v / %v", name, round, err1, err2)
				}
				if (len(fd) == 0) != (len(sd) == 0) {
					t.Fatalf("%s round %d options %d mutation %d: fast found %d differences, go-cmp %d:\nfast %v\ncmp  %v",
						name, round, oi, m, len(fd), len(sd), summary(fd), summary(sd))
				}
				if !grew {
					if d := cmp.Diff(summary(sd), summary(fd)); d != "" {
						t.Fatalf("%s round %d options %d mutation %d (-go-cmp +fast):\n%s", name, round, oi, m, d)
					}
				}
				n++
			}
			// The same candidate with every array shuffled: as multisets, the
			// engines must still agree, and an unmutated body must match.
			sb, err := json.Marshal(shuffle(r, decode(t, b)))
			if err != nil {
				t.Fatal(err)
			}
			for _, unmutated := range []bool{false, true} {
				cb := sb
				if unmutated {
					cb, _ = json.Marshal(shuffle(r, decode(t, body)))
				}
				opts := diff.Options{Unordered: paths("$..*", "$")}
				a, c := jsonResp(string(body)), jsonResp(string(cb))
				fd, err1 := diff.NewEngine(opts, diff.Fast).Compare(a, c)
				sd, err2 := diff.NewEngine(opts, diff.Cmp).Compare(a, c)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s round %d shuffled: errors %v / %v", name, round, err1, err2)
				}
				if unmutated && (len(fd) != 0 || len(sd) != 0) {
					t.Fatalf("%s round %d: a reordering is not a difference as multisets:\nfast %v\ncmp  %v", name, round, summary(fd), summary(sd))
				}
				if (len(fd) == 0) != (len(sd) == 0) || (!grew && !cmp.Equal(summary(fd), summary(sd))) {
					t.Fatalf("%s round %d mutation %d shuffled:\nfast %v\ncmp  %v", name, round, m, summary(fd), summary(sd))
				}
				n++
			}
		}
	}
	t.Logf("%d comparisons cross-checked", n)
}

// shuffle reorders every array of v, in place.
func shuffle(r *rand.Rand, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			x[k] = shuffle(r, x[k])
		}
	case []any:
		for i := range x {
			x[i] = shuffle(r, x[i])
		}
		r.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] })
	}
	return v
}

// FuzzCompare feeds arbitrary pairs of bodies to both engines: neither may
// fail, and both must agree on whether the bodies are equal.
func FuzzCompare(f *testing.F) {
	for _, b := range loadBodies(f) {
		f.Add(b, b)
	}
	f.Add([]byte(`{"a":1,"a":2}`), []byte(`{"a":2}`))
	f.Add([]byte(`[1,2,3]`), []byte(`[1,2,9,3]`))
	f.Add([]byte(`{"n":1e400}`), []byte(`{"n":1E+400}`))
	f.Add([]byte(`"\ud800"`), []byte(`"\ufffd"`))
	f.Add([]byte("a\nb\n"), []byte("a\nc\n"))
	f.Add([]byte("\xff"), []byte("\xfe"))
	// Candidates sharing legacy's subtrees (parsed against legacy: aliases).
	f.Add([]byte(`{"k":{"v":1},"k":{"v":2}}`), []byte(`{"k":{"v":1}}`))
	f.Add([]byte(`[[1],[2]]`), []byte(`[[3],[2]]`))
	f.Add([]byte(`{"a":[{"b":[1,2]},{"c":{}}],"d":"0123456789\"abc"}`), []byte(`{"d":"0123456789\"abc","a":[{"b":[1,2]},{"c":{}}]}`))
	opts := []diff.Options{{}, {Unordered: paths("$..*")}, {Ignore: paths("$..a")}}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, o := range opts {
			fd, err1 := diff.NewEngine(o, diff.Fast).Compare(jsonResp(string(a)), jsonResp(string(b)))
			sd, err2 := diff.NewEngine(o, diff.Cmp).Compare(jsonResp(string(a)), jsonResp(string(b)))
			if err1 != nil || err2 != nil {
				t.Fatalf("errors: %v / %v", err1, err2)
			}
			if (len(fd) == 0) != (len(sd) == 0) {
				t.Fatalf("engines disagree on %q vs %q: fast %v, go-cmp %v", a, b, summary(fd), summary(sd))
			}
			if bytes.Equal(a, b) && len(fd) != 0 {
				t.Fatalf("identical bodies differ: %v", summary(fd))
			}
		}
	})
}
