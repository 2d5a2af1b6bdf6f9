package netlimit_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"syscall"
	"testing"

	"github.com/tandemproxy/tandem/netlimit"
)

// failing is a real loopback listener whose Accept first fails with the
// given errors: EMFILE and its kind cannot be caused in-process without
// starving the test itself (the binary is tested under a real ulimit in
// cmd/tandem).
type failing struct {
	net.Listener
	errs []error
}

func (f *failing) Accept() (net.Conn, error) {
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return f.Listener.Accept()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestListener_AcceptErrorsRetried(t *testing.T) {
	inner := listen(t)
	errs := []error{
		&net.OpError{Op: "accept", Err: syscall.EMFILE},
		&net.OpError{Op: "accept", Err: syscall.ENFILE},
		&net.OpError{Op: "accept", Err: syscall.ENOBUFS},
		&net.OpError{Op: "accept", Err: syscall.ECONNABORTED},
		errors.New("something else"),
	}
	l := netlimit.New(&failing{Listener: inner, errs: errs}, 0, "test", nil, quiet)
	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			io.ReadAll(c)
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept after %d errors: %v", len(errs), err)
	}
	c.Close()
	if n := l.Counters().AcceptErrors.Load(); n != int64(len(errs)) {
		t.Errorf("AcceptErrors %d, want %d", n, len(errs))
	}
}

func TestListener_CloseEndsAccept(t *testing.T) {
	// Accept is in its backoff (every call fails) when the listener closes.
	inner := listen(t)
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = &net.OpError{Op: "accept", Err: syscall.EMFILE}
	}
	l := netlimit.New(&failing{Listener: inner, errs: errs}, 0, "test", nil, quiet)
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	for l.Counters().AcceptErrors.Load() == 0 {
		runtime.Gosched() // until Accept has met its first error
	}
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

func TestListener_MaxConns(t *testing.T) {
	inner := listen(t)
	l := netlimit.New(inner, 2, "test", nil, quiet)
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	a, b := <-accepted, <-accepted
	// The third is closed at once (reset, perhaps before the dial
	// returns): its read ends without waiting.
	if third, err := net.Dial("tcp", inner.Addr().String()); err == nil {
		if _, err := third.Read(make([]byte, 1)); err == nil {
			t.Fatal("the connection past the limit was served")
		}
		third.Close()
	}
	for l.Counters().Refused.Load() == 0 {
		runtime.Gosched() // until the listener has refused it
	}
	if n := l.Counters().Refused.Load(); n != 1 {
		t.Errorf("Refused %d, want 1", n)
	}
	// Closing one (twice: counted once) makes room for the next.
	a.Close()
	a.Close()
	dial()
	<-accepted
	if n := l.Counters().Open.Load(); n != 2 {
		t.Errorf("Open %d, want 2", n)
	}
	b.Close()
	l.Close()
}
