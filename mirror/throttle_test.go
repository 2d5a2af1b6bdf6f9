package mirror

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	th := throttle{interval: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		want int
	}{{0, 0}, {time.Second, -1}, {2 * time.Second, -1}, {11 * time.Second, 2}, {12 * time.Second, -1}, {30 * time.Second, 1}}
	for _, s := range steps {
		if got := th.allow(t0.Add(s.at)); got != s.want {
			t.Errorf("at %v: allow = %d, want %d", s.at, got, s.want)
		}
	}
}
