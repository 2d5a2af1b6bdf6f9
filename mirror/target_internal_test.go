package mirror

import "testing"

func TestStripShadow(t *testing.T) {
	for _, tt := range []struct {
		host, suffix, want string
	}{
		{"api.example-shadow", "-shadow", "api.example"},
		{"API.example-SHADOW", "-shadow", "API.example"},
		{"api.example-shadow:8080", "-shadow", "api.example:8080"},
		{"api.example:8080-shadow", "-shadow", "api.example:8080"},
		{"api.example", "-shadow", ""},
		{"api.example:8080", "-shadow", ""},
		{"[::1]-shadow", "-shadow", "[::1]"},
		{"[::1]:8080", "-shadow", ""},
		{"-shadow", "-shadow", ""},     // nothing would be left
		{"api.example-shadow", "", ""}, // an empty suffix keeps the Host
		{"api.example.mirror", ".mirror", "api.example"},
	} {
		if got := string(stripShadow([]byte(tt.host), []byte(tt.suffix))); got != tt.want {
			t.Errorf("stripShadow(%q, %q) = %q, want %q", tt.host, tt.suffix, got, tt.want)
		}
	}
}
