package tui

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tandemproxy/tandem"
)

// curlSkip are the request headers a curl command leaves to curl: it
// derives them from the URL and the body, or they belong to one connection
// (RFC 9110 §7.6.1).
var curlSkip = map[string]bool{
	"host": true, "content-length": true, "connection": true, "keep-alive": true, "transfer-encoding": true,
	"te": true, "trailer": true, "upgrade": true, "proxy-connection": true, "accept-encoding": true,
}

// curl returns a shell command that sends the request again, as the store
// kept it: redacted values stay redacted.
func curl(r *tandem.Request) string { return strings.Join(curlLines(r), " ") }

// curlLines returns the command in parts that read well one per line
// (joined with " \\\n" they are the same command): curl and the URL,
// then each header, then the body.
func curlLines(r *tandem.Request) []string {
	host := r.Host
	if host == "" {
		host = r.Header.Get("Host")
	}
	if host == "" {
		host = "localhost"
	}
	first := "curl "
	if r.Method != "GET" {
		first += "-X " + shellQuote(r.Method) + " "
	}
	lines := []string{first + shellQuote("http://"+host+r.URL)}
	for _, h := range r.Header {
		if !curlSkip[strings.ToLower(h.Name)] {
			lines = append(lines, "-H "+shellQuote(h.Name+": "+h.Value))
		}
	}
	if len(r.Body) > 0 {
		if utf8.Valid(r.Body) && !strings.ContainsRune(string(r.Body), 0) {
			lines = append(lines, "--data-binary "+shellQuote(string(r.Body)))
		} else {
			lines = append(lines, fmt.Sprintf("--data-binary @<(printf %%s %s | base64 -d)", shellQuote(base64.StdEncoding.EncodeToString(r.Body))))
		}
	}
	return lines
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// osc52 writes the OSC 52 sequence that asks the terminal to put text on
// the clipboard (terminals that do not support it ignore it).
func osc52(w io.Writer, text string) error {
	_, err := fmt.Fprintf(w, "\x1b]52;c;%s\x07", base64.StdEncoding.EncodeToString([]byte(text)))
	return err
}
