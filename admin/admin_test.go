package admin_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandemproxy/tandem/admin"
)

func TestAddr(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: ":9090", want: "127.0.0.1:9090"},
		{in: "127.0.0.1:9090", want: "127.0.0.1:9090"},
		{in: "0.0.0.0:9090", want: "0.0.0.0:9090"}, // told otherwise
		{in: "[::1]:9090", want: "[::1]:9090"},
		{in: "9090", err: "missing port"},
	}
	for _, tt := range tests {
		got, err := admin.Addr(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Addr(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Addr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

type source string

func (s source) WriteMetrics(w io.Writer) { io.WriteString(w, string(s)) }

func TestHandler(t *testing.T) {
	srv, err := admin.Listen(":0", admin.Handler(source("a 1\n"), source("b 2\n")))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Errorf("listening on %s", srv.Addr())
	}
	for path, want := range map[string]string{"/metrics": "a 1\nb 2\n", "/healthz": "ok\n"} {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("%s = %q, want %q", path, b, want)
		}
	}
}
