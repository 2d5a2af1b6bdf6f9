package replay

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress is where a run is.
type Progress struct {
	Done, Total int64 // records handled (sent and answered, skipped or invalid) of all
	Mismatches  int64 // mismatches and diff errors so far
	Errors      int64 // candidate and legacy errors so far
	Elapsed     time.Duration
}

// Rate is records handled per second.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// ETA estimates the time left at the rate so far (-1: unknown).
func (p Progress) ETA() time.Duration {
	rate := p.Rate()
	if rate <= 0 || p.Total <= 0 {
		return -1
	}
	left := max(p.Total-p.Done, 0)
	return time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second)
}

func (p Progress) String() string {
	pct := 0
	if p.Total > 0 {
		pct = int(100 * p.Done / p.Total)
	}
	eta := "ETA ?"
	switch d := p.ETA(); {
	case p.Total > 0 && p.Done >= p.Total:
		eta = "done in " + p.Elapsed.Round(time.Millisecond).String()
	case d >= 0 && d < time.Second:
		eta = "ETA <1s"
	case d >= 0:
		eta = "ETA " + d.String()
	}
	return fmt.Sprintf("%d/%d (%d%%) · %.1f req/s · %s · %s · %s", p.Done, p.Total, pct, p.Rate(),
		plural(p.Mismatches, "mismatch", "mismatches"), plural(p.Errors, "error", "errors"), eta)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// bar draws done/total in width cells.
func bar(done, total int64, width int) string {
	fill := 0
	if total > 0 {
		fill = int(int64(width) * min(done, total) / total)
	}
	return "[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "]"
}

// Progress display defaults.
const (
	TTYEvery   = 200 * time.Millisecond // a terminal's line is redrawn this often
	PlainEvery = 10 * time.Second       // elsewhere (CI logs) a line is written this often
)

// ShowProgress writes progress to w until the returned stop is called: on
// a terminal, one line with a bar redrawn in place; elsewhere, a plain line
// every `every`, so that CI logs stay short. stop writes the final line.
func ShowProgress(w io.Writer, tty bool, every time.Duration, get func() Progress) (stop func()) {
	line := func(final bool) {
		p := get()
		if tty {
			end := ""
			if final {
				end = "\n"
			}
			fmt.Fprintf(w, "\r\x1b[Kreplay %s %s%s", bar(p.Done, p.Total, 24), p, end)
			return
		}
		fmt.Fprintf(w, "replay: %s\n", p)
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				line(false)
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			wg.Wait()
			line(true)
		})
	}
}
