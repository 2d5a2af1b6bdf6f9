package rules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// DefaultWatchInterval is how often Watch looks at the rules file.
const DefaultWatchInterval = time.Second

// Watch reloads the rules file whenever its content changes, until ctx is
// done. A file that fails to load is reported to onError and the rules in
// force stay in force. It polls (stat, then a hash of the content) rather
// than relying on file-system events, which editors that replace files
// through a rename defeat.
func Watch(ctx context.Context, path string, interval time.Duration, onChange func(*Set), onError func(error)) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	var lastMod time.Time
	var lastSize int64
	var lastSum []byte
	if st, err := os.Stat(path); err == nil {
		lastMod, lastSize = st.ModTime(), st.Size()
		if data, err := os.ReadFile(path); err == nil {
			s := sha256.Sum256(data)
			lastSum = s[:]
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(path)
		if err != nil || (st.ModTime().Equal(lastMod) && st.Size() == lastSize) {
			continue
		}
		lastMod, lastSize = st.ModTime(), st.Size()
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(data)
		if bytes.Equal(sum[:], lastSum) {
			continue
		}
		lastSum = sum[:]
		s, err := Parse(path, data)
		if err != nil {
			onError(err)
			continue
		}
		onChange(s)
	}
}
