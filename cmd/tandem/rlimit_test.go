package main

import (
	"syscall"
	"testing"
)

func TestDefaultMaxConns(t *testing.T) {
	cases := []struct {
		name             string
		nofile           uint64
		workers, mirrors int
		want             int
		ok               bool
	}{
		// 1M descriptors: all but the mirror, legacy's pool and the reserve.
		{"Large", 1 << 20, 256, 2, 1<<20 - 512 - 512 - 160, true},
		// 4096: a client and its legacy connection each.
		{"Small", 4096, 256, 1, 4096 - 256 - 160 - 512, true},
		{"Tight", 1024, 256, 1, (1024 - 256 - 160) / 2, true},
		{"TooLow", 256, 256, 1, minMaxConns, false},
		{"Ulimit256FewWorkers", 256, 4, 1, (256 - 4 - 160) / 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := defaultMaxConns(tc.nofile, tc.workers, tc.mirrors)
			if got != tc.want || ok != tc.ok {
				t.Errorf("defaultMaxConns(%d, %d, %d) = %d, %v; want %d, %v", tc.nofile, tc.workers, tc.mirrors, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// raiseNoFile leaves the soft limit at the hard one (Go's runtime already
// raises it for itself; tandem does it explicitly and says the value).
func TestRaiseNoFile(t *testing.T) {
	got, err := raiseNoFile()
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if got != lim.Cur || lim.Cur != lim.Max {
		t.Errorf("raiseNoFile() = %d; limit now %d of %d, want soft = hard", got, lim.Cur, lim.Max)
	}
}
