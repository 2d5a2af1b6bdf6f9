package bench

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Path is what the load asks for: one JSON resource, the shape of a typical
// API answer.
const Path = "/api/items/42"

// Document returns legacy's answer: a JSON object of about size bytes.
// reordered writes the same members in another order (what a rewrite in
// another language usually does): equal as JSON, unequal as bytes, so that
// every comparison parses both bodies instead of stopping at bytes.Equal.
// changed alters one value: a real mismatch.
func Document(size int, reordered, changed bool) []byte {
	var b bytes.Buffer
	price := "19.5"
	if changed {
		price = "19.75"
	}
	if reordered {
		b.WriteString(`{"page":1,"total":0,"items":[`)
	} else {
		b.WriteString(`{"total":0,"page":1,"items":[`)
	}
	for i := 0; b.Len() < size-48 || i == 0; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		p := price
		if i > 0 {
			p = strconv.Itoa(10+i%90) + ".5"
		}
		if reordered {
			fmt.Fprintf(&b, `{"price":%s,"name":"Item number %d","sku":"SKU-%06d","id":%d,"tags":["a%d","b"],"updatedAt":"2024-05-01T10:00:%02dZ"}`,
				p, i, i, i, i%9, i%60)
		} else {
			fmt.Fprintf(&b, `{"id":%d,"sku":"SKU-%06d","name":"Item number %d","price":%s,"tags":["a%d","b"],"updatedAt":"2024-05-01T10:00:%02dZ"}`,
				i, i, i, p, i%9, i%60)
		}
	}
	b.WriteString(`],"traceId":"0af7651916cd43dd8448eb211c80319c"}`)
	return b.Bytes()
}

// Backend is a loopback HTTP service that answers every request with a
// fixed document, after an optional delay.
type Backend struct {
	Addr   string
	ln     net.Listener
	srv    *fasthttp.Server
	served atomic.Int64
	done   chan struct{}
}

// BackendConfig says how a Backend answers.
type BackendConfig struct {
	Body []byte
	// Changed, when set, is answered instead of Body to one request in
	// ChangeEvery (the candidate's real bugs).
	Changed     []byte
	ChangeEvery int64
	Delay       time.Duration // before each answer
}

// StartBackend serves cfg on a loopback port.
func StartBackend(cfg BackendConfig) (*Backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	b := &Backend{Addr: ln.Addr().String(), ln: ln, done: make(chan struct{})}
	b.srv = &fasthttp.Server{
		Name:                  "bench",
		NoDefaultDate:         true,
		NoDefaultServerHeader: true,
		Concurrency:           1 << 20,
		Handler: func(ctx *fasthttp.RequestCtx) {
			n := b.served.Add(1)
			if cfg.Delay > 0 {
				time.Sleep(cfg.Delay)
			}
			ctx.SetContentType("application/json")
			if cfg.ChangeEvery > 0 && n%cfg.ChangeEvery == 0 {
				ctx.SetBody(cfg.Changed)
				return
			}
			ctx.SetBody(cfg.Body)
		},
	}
	go func() {
		defer close(b.done)
		b.srv.Serve(ln)
	}()
	return b, nil
}

// Served is how many requests the backend has answered or is answering.
func (b *Backend) Served() int64 { return b.served.Load() }

// URL is the backend's base URL.
func (b *Backend) URL() string { return "http://" + b.Addr }

// Close stops the backend.
func (b *Backend) Close() {
	b.srv.Shutdown()
	<-b.done
}

// Staller accepts connections and reads requests but never answers: a
// candidate that has hung.
type Staller struct {
	Addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// StartStaller listens on a loopback port.
func StartStaller() (*Staller, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("staller: %w", err)
	}
	s := &Staller{Addr: ln.Addr().String(), ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				buf := make([]byte, 4<<10)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return s, nil
}

// URL is the staller's base URL.
func (s *Staller) URL() string { return "http://" + s.Addr }

// Close closes the listener and every connection.
func (s *Staller) Close() {
	s.ln.Close()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// DeadURL returns the URL of a loopback port on which nothing listens: a
// candidate that is down (connection refused).
func DeadURL() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr, nil
}
