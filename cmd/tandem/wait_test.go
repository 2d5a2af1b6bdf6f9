package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Tests wait on events (a log line, a count in /metrics or the database),
// never for a time; these bound how long they look and how often.
const (
	waitLimit = 20 * time.Second      // long enough for a loaded CI box; a pass returns at once
	waitEvery = 10 * time.Millisecond // between two looks
)

// poll looks until done reports true and fails the test, saying what it
// waited for and what state shows, when waitLimit passes first.
func poll(t *testing.T, what string, done func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s:\n%s", waitLimit, what, state())
		}
		time.Sleep(waitEvery)
	}
}

// waitLog waits until the log holds text n times (or more).
func waitLog(t *testing.T, log func() string, text string, n int) {
	t.Helper()
	poll(t, fmt.Sprintf("%q %d times in the log", text, n), func() bool { return strings.Count(log(), text) >= n }, log)
}
