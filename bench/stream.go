package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The streaming rows: how long a client waits for the first byte of an
// answer and for the first Server-Sent Event through tandem, against legacy
// directly and nginx's proxy_pass (proxy_buffering off for the events); and
// tandem's peak memory while a large download streams through it.

// Defaults for the streaming rows.
const (
	DefaultDownload = 1 << 30
	// DefaultStreamSamples: event streams opened, one after another, per
	// target.
	DefaultStreamSamples = 20
	// sseGap is how long the event stream waits after its first event
	// before its second and last: a proxy that buffers the answer makes
	// the client wait that long for the first.
	sseGap = 300 * time.Millisecond
)

// StreamRow is one target's times to the header and to the first event of
// an event stream, over Samples streams.
type StreamRow struct {
	Target             string
	Samples, Errors    int
	TTFBP50, TTFBMax   time.Duration
	EventP50, EventMax time.Duration
	DownloadTTFB       time.Duration // of a Content-Length download, the median
	DownloadTTFBMax    time.Duration
}

// Download is the large download through tandem.
type Download struct {
	Bytes int64
	// Each download: with and without Content-Length.
	Durations        []time.Duration
	IdleRSS, PeakRSS int64
	Intact           bool
}

// streamBackend serves /sse (an event, sseGap, another event) and
// /download?n=BYTES[&length=1] (reproducible bytes, chunked or with a
// Content-Length), remembering the SHA-256 of each download it sent.
type streamBackend struct {
	srv  *http.Server
	ln   net.Listener
	mu   sync.Mutex
	sums []string
}

func startStreamBackend() (*streamBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stream backend: %w", err)
	}
	b := &streamBackend{ln: ln}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve)}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *streamBackend) URL() string { return "http://" + b.ln.Addr().String() }

func (b *streamBackend) Close() { b.srv.Close() }

// block is the download's repeating content.
var block = func() []byte {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i*31 + i>>8)
	}
	return p
}()

func (b *streamBackend) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/sse":
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(sseGap)
		io.WriteString(w, "data: last\n\n")
	case "/download":
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Query().Get("length") == "1" {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		w.WriteHeader(http.StatusOK)
		h := sha256.New()
		for n > 0 {
			p := block[:min(int64(len(block)), n)]
			h.Write(p)
			if _, err := w.Write(p); err != nil {
				return
			}
			n -= int64(len(p))
		}
		if r.URL.Query().Get("mirror") == "" {
			b.mu.Lock()
			b.sums = append(b.sums, hex.EncodeToString(h.Sum(nil)))
			b.mu.Unlock()
		}
	default:
		http.NotFound(w, r)
	}
}

// nginxStreamConfig is nginx's proxy_pass in front of legacy, with
// proxy_buffering off for the event stream (what a site serving events
// through nginx must set).
func nginxStreamConfig(dir, listen, legacy string) string {
	c := nginxConfig(dir, listen, legacy, "")
	return strings.Replace(c, "\t\tlocation / {\n", "\t\tlocation = /sse {\n\t\t\tproxy_buffering off;\n\t\t\tproxy_http_version 1.1;\n"+
		"\t\t\tproxy_set_header Connection \"\";\n\t\t\tproxy_pass http://legacy;\n\t\t}\n\t\tlocation / {\n", 1)
}

// streamLatency opens event streams at addr one after another and times
// the header and the first event of each, then a few small downloads'
// first bytes.
func streamLatency(ctx context.Context, addr string, samples int) StreamRow {
	var row StreamRow
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var ttfb, event, dl []time.Duration
	for range samples {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/sse", nil)
		resp, err := client.Do(req)
		if err != nil {
			row.Errors++
			continue
		}
		h := time.Since(t0)
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		e := time.Since(t0)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || line != "data: first\n" {
			row.Errors++
			continue
		}
		ttfb, event = append(ttfb, h), append(event, e)
	}
	for range samples {
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/download?n=1048576&length=1&mirror=1", nil)
		resp, err := client.Do(req)
		if err != nil {
			row.Errors++
			continue
		}
		var one [1]byte
		_, err = io.ReadFull(resp.Body, one[:])
		d := time.Since(t0)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			row.Errors++
			continue
		}
		dl = append(dl, d)
	}
	row.Samples = len(event)
	row.TTFBP50, row.TTFBMax = median(ttfb), slices.Max(append(ttfb, 0))
	row.EventP50, row.EventMax = median(event), slices.Max(append(event, 0))
	row.DownloadTTFB, row.DownloadTTFBMax = median(dl), slices.Max(append(dl, 0))
	return row
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// streams runs the streaming latency rows: direct, tandem, nginx.
func streams(ctx context.Context, cfg Config) ([]StreamRow, error) {
	b, err := startStreamBackend()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var rows []StreamRow
	for _, target := range []string{Direct, Tandem, Nginx} {
		addr := strings.TrimPrefix(b.URL(), "http://")
		dir, err := os.MkdirTemp("", "tandem-bench-")
		if err != nil {
			return rows, err
		}
		defer os.RemoveAll(dir)
		var p *proc
		switch target {
		case Tandem:
			p, err = startTandem(ctx, cfg.Tandem, dir, b.URL(), b.URL())
		case Nginx:
			if cfg.Nginx == "" {
				continue
			}
			p, err = startNginxConf(ctx, cfg.Nginx, dir, func(listen string) string { return nginxStreamConfig(dir, listen, b.URL()) })
		}
		if err != nil {
			return rows, fmt.Errorf("%s: %w", target, err)
		}
		if p != nil {
			addr = p.addr
		}
		fmt.Fprintf(cfg.Log, "bench: event streams through %s\n", target)
		row := streamLatency(ctx, addr, cfg.StreamSamples)
		row.Target = target
		rows = append(rows, row)
		if p != nil {
			p.stop()
		}
	}
	return rows, nil
}

// download streams cfg.Download bytes through a fresh tandem, with and
// without Content-Length, and reads its peak RSS.
func download(ctx context.Context, cfg Config) (*Download, error) {
	b, err := startStreamBackend()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The candidate is the same backend: the mirror reads the download
	// again, keeping --max-body of it and hashing the rest, as it would in
	// production.
	p, err := startTandem(ctx, cfg.Tandem, dir, b.URL(), b.URL(), "--timeout", "10m")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	d := &Download{Bytes: cfg.Download, Intact: true}
	d.IdleRSS, _ = p.rss()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	for _, length := range []string{"1", "0"} {
		fmt.Fprintf(cfg.Log, "bench: a %d MiB download through tandem (Content-Length: %v)\n", cfg.Download>>20, length == "1")
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/download?n=%d&length=%s", "http://"+p.addr, cfg.Download, length), nil)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		d.Durations = append(d.Durations, time.Since(t0))
		if err != nil || n != cfg.Download {
			return nil, fmt.Errorf("download through tandem: %d of %d bytes: %v", n, cfg.Download, err)
		}
		b.mu.Lock()
		sent := b.sums[len(b.sums)-1]
		b.mu.Unlock()
		if got := hex.EncodeToString(h.Sum(nil)); got != sent {
			d.Intact = false
		}
	}
	_, d.PeakRSS = p.rss()
	return d, nil
}

// startNginxConf runs nginx with the configuration conf makes for a listen
// address, and waits until it listens.
func startNginxConf(ctx context.Context, nginx, dir string, conf func(listen string) string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf(addr)), 0o600); err != nil {
		return nil, err
	}
	return runNginx(ctx, nginx, dir, file, addr)
}

// streamMarkdown writes the streaming tables.
func streamMarkdown(w io.Writer, r *Result) {
	if len(r.Streams) == 0 && r.Download == nil {
		return
	}
	if len(r.Streams) > 0 {
		fmt.Fprintf(w, "\nStreaming: %d event streams opened one after another per target (legacy sends an event, waits %s, sends the last), "+
			"then %d downloads of 1 MiB with a Content-Length; times from the request to the header, to the first event, "+
			"and to the download's first body byte (median, max):\n\n", r.Config.StreamSamples, sseGap, r.Config.StreamSamples)
		fmt.Fprintln(w, "| target | header | first event | download's first byte | errors |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, s := range r.Streams {
			t := s.Target
			if t == Nginx {
				t += " (proxy_buffering off for the events)"
			}
			fmt.Fprintf(w, "| %s | %s (%s) | %s (%s) | %s (%s) | %d |\n", t, ms(s.TTFBP50), ms(s.TTFBMax), ms(s.EventP50), ms(s.EventMax),
				ms(s.DownloadTTFB), ms(s.DownloadTTFBMax), s.Errors)
		}
	}
	if d := r.Download; d != nil {
		parts := make([]string, len(d.Durations))
		for i, t := range d.Durations {
			parts[i] = fmt.Sprintf("%.1f s", t.Seconds())
		}
		fmt.Fprintf(w, "\nA %d MiB download through tandem (mirrored: the candidate's copy is read, kept to --max-body and hashed), "+
			"with then without Content-Length: %s; intact (SHA-256 as sent): %v; tandem's RSS idle %.0f MiB, peak %.0f MiB "+
			"(%.0f MiB above idle; goal: under 64 MiB above idle).\n",
			d.Bytes>>20, strings.Join(parts, ", "), d.Intact, float64(d.IdleRSS)/(1<<20), float64(d.PeakRSS)/(1<<20),
			float64(d.PeakRSS-d.IdleRSS)/(1<<20))
	}
}
