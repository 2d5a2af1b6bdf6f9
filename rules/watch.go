package rules

import (
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// DefaultWatchInterval is how often Watch looks at the rules file.
const DefaultWatchInterval = time.Second

// Watch reloads the rules file of current (the rules in force, as Load
// returned them) whenever its content changes from what current was loaded
// from, until ctx is done. A file that fails to load is reported to onError
// and the rules in force stay in force. It polls a hash of the content
// rather than relying on file-system events, which editors that replace
// files through a rename defeat, or on the modification time and size,
// which an edit that keeps the size within the file system's timestamp
// granularity (sample: 0.1 to 0.2), or a copy that preserves times (cp -p,
// rsync -t), leaves as they were. A rules file is small: reading it every
// interval costs nothing.
func Watch(ctx context.Context, current *Set, interval time.Duration, onChange func(*Set), onError func(error)) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	path := current.File
	if path == "" {
		return // the built-in defaults: no file
	}
	// What the rules in force were loaded from, not the file as it is now:
	// a change between the load and this call is a change.
	lastSum := current.sum
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue // mid-replacement, or removed: the rules in force stay
		}
		sum := sha256.Sum256(data)
		if sum == lastSum {
			continue
		}
		lastSum = sum
		s, err := Parse(path, data)
		if err != nil {
			onError(err)
			continue
		}
		onChange(s)
	}
}
