// The race detector makes sync.Pool drop objects at random on purpose, so
// allocation counts mean nothing under -race; this file builds without it.

//go:build !race

package diff_test

import (
	"testing"

	"github.com/tandemproxy/tandem/diff"
)

// TestFastPaths_AllocationsDoNotGrow pins the allocation goal:
// comparing equal documents costs the same number of allocations whatever
// their size (pooled documents and walker arenas), so a large answer does
// not cost the garbage collector more than a small one.
func TestFastPaths_AllocationsDoNotGrow(t *testing.T) {
	allocs := map[string][]float64{}
	for _, s := range benchSizes {
		for _, tc := range benchCases(s.size) {
			if tc.wantDiffs != 0 {
				continue
			}
			c := diff.New(tc.opts)
			c.Compare(tc.pair.legacy, tc.pair.candidate) // grow the pools
			n := testing.AllocsPerRun(20, func() {
				if _, err := c.Compare(tc.pair.legacy, tc.pair.candidate); err != nil {
					t.Fatal(err)
				}
			})
			allocs[tc.name] = append(allocs[tc.name], n)
		}
	}
	for name, ns := range allocs {
		for _, n := range ns[1:] {
			// A garbage collection between runs may empty a pool once.
			if n > ns[0]+1 {
				t.Errorf("%s: %v allocations per comparison at 1 KiB, 16 KiB, 256 KiB: they grow with size", name, ns)
				break
			}
		}
	}
}
