package mirror_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// A small RFC 6455 implementation, enough for the tunnel's tests: text
// frames up to 64 KiB, masked from the client, unmasked from the server.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsWrite writes one final text frame (opcode 1), masked when mask is set.
func wsWrite(w io.Writer, msg string, mask bool) error {
	b := []byte{0x81}
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(msg); {
	case n < 126:
		b = append(b, m|byte(n))
	default:
		b = append(b, m|126, byte(n>>8), byte(n))
	}
	payload := []byte(msg)
	if mask {
		var key [4]byte
		rand.Read(key[:])
		b = append(b, key[:]...)
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	_, err := w.Write(append(b, payload...))
	return err
}

// wsRead reads one frame and returns its opcode and payload, unmasked.
func wsRead(r io.Reader) (byte, string, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, "", err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, "", err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, "", err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, "", err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return h[0] & 0x0f, string(p), nil
}

// wsEcho is a WebSocket server that says "hello" as soon as the handshake is
// done (so that its first frame may arrive with the 101), then echoes every
// text frame, upper-cased. conns receives each connection's end (the error
// its read ended with).
func wsEcho(conns chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Key") == "" {
			http.Error(w, "want a websocket handshake", http.StatusUpgradeRequired)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Legacy: ws\r\n\r\n",
			wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		wsWrite(brw, "hello", false)
		brw.Flush()
		for {
			op, msg, err := wsRead(brw)
			if err != nil || op == 8 {
				if conns != nil {
					conns <- err
				}
				return
			}
			wsWrite(c, strings.ToUpper(msg), false)
		}
	})
}

// wsConn is the client side of a WebSocket connection through the proxy.
type wsConn struct {
	net.Conn
	br   *bufio.Reader
	resp *http.Response // the handshake's answer
}

// wsDial opens a WebSocket connection to addr ("host:port") with the given
// extra request header lines; it returns the connection and the handshake's
// answer, whatever its status.
func wsDial(t *testing.T, addr, path string, extra ...string) *wsConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	for _, e := range extra {
		req += e + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) {
			t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, wsAccept(key))
		}
	}
	return &wsConn{Conn: c, br: br, resp: resp}
}

func (w *wsConn) send(t *testing.T, msg string) {
	t.Helper()
	if err := wsWrite(w.Conn, msg, true); err != nil {
		t.Fatal(err)
	}
}

func (w *wsConn) recv(t *testing.T) string {
	t.Helper()
	op, msg, err := wsRead(w.br)
	if err != nil {
		t.Fatalf("read a frame: %v", err)
	}
	if op != 1 {
		t.Fatalf("opcode %d, want a text frame", op)
	}
	return msg
}
