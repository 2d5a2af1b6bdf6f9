package admin_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/admin"
)

// A flood of idle connections to the admin listener is refused past
// DefaultMaxConns (the proxy's clients keep their descriptors), the server
// stays up, and once the flood closes a scrape works.
func TestListen_FloodRefusedPastMaxConns(t *testing.T) {
	srv, err := admin.Listen("127.0.0.1:0", admin.Handler())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	var flood []net.Conn
	for range admin.DefaultMaxConns {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, c)
	}
	// One more: closed at once, without an answer.
	extra, err := net.Dial("tcp", srv.Addr())
	if err == nil {
		extra.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if b, _ := io.ReadAll(extra); len(b) != 0 {
			t.Errorf("the connection past the limit was served: %q", b)
		}
		extra.Close()
	}
	for _, c := range flood {
		c.Close()
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		// The flood's connections are counted out as the server sees them
		// close: until then a new one may still be refused.
		resp, err := client.Get("http://" + srv.Addr() + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok\n" {
				t.Fatalf("healthz: %d %q", resp.StatusCode, b)
			}
			return
		}
		if i == 100 {
			t.Fatalf("healthz after the flood: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
