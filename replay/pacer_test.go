package replay

import (
	"testing"
	"time"
)

func TestPacer_Reserve(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  float64
		at    []time.Duration // when each start is asked for, after t0
		waits []time.Duration // how long each must wait
	}{
		{name: "NoLimit", rate: 0, at: []time.Duration{0, 0, 0}, waits: []time.Duration{0, 0, 0}},
		{name: "Burst", rate: 10, at: []time.Duration{0, 0, 0}, waits: []time.Duration{0, 100 * ms, 200 * ms}},
		{name: "OnTime", rate: 10, at: []time.Duration{0, 100 * ms, 200 * ms}, waits: []time.Duration{0, 0, 0}},
		{name: "Early", rate: 10, at: []time.Duration{0, 30 * ms, 130 * ms}, waits: []time.Duration{0, 70 * ms, 70 * ms}},
		// After a stall the next start is not followed by a burst.
		{name: "NoCatchUp", rate: 10, at: []time.Duration{0, 1000 * ms, 1000 * ms}, waits: []time.Duration{0, 0, 100 * ms}},
		{name: "Fractional", rate: 0.5, at: []time.Duration{0, 0}, waits: []time.Duration{0, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pacer{interval: interval(tt.rate)}
			for i, at := range tt.at {
				if got := p.reserve(t0.Add(at)); got != tt.waits[i] {
					t.Errorf("start %d at +%s waits %s, want %s", i, at, got, tt.waits[i])
				}
			}
		})
	}
}
