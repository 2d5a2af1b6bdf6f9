package diff

import "testing"

// keyPrefixIn reads a name's first eight bytes in one load where the
// source allows: it must give what keyPrefix gives, at every length and
// wherever the name ends relative to the source's end.
func TestKeyPrefixIn(t *testing.T) {
	tests := []struct {
		src  string
		i, n int // the name: src[i:i+n]
	}{
		{`{"":1}`, 2, 0},
		{`{"a":1}`, 2, 1},
		{`{"abcdefg":1}`, 2, 7},
		{`{"abcdefgh":1}`, 2, 8},
		{`{"abcdefghij":1}`, 2, 10},
		{`{"a":`, 2, 1}, // fewer than eight bytes from the name on
		{`"ab"`, 1, 2},  // the same, at the very end
		{`{"ab":"\u00e9"}`, 2, 2},
	}
	for _, tt := range tests {
		got := keyPrefixIn([]byte(tt.src), tt.i, tt.n)
		if want := keyPrefix([]byte(tt.src[tt.i : tt.i+tt.n])); got != want {
			t.Errorf("keyPrefixIn(%q, %d, %d) = %#x, want %#x", tt.src, tt.i, tt.n, got, want)
		}
	}
}
