package store_test

import (
	"testing"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// Differences in XML and form bodies (diff's /… and form:… paths) at a
// redacted name lose their values, as JSON ones do.
func TestRedact_FormAndXMLDifferences(t *testing.T) {
	tests := []struct {
		path   string
		secret bool
	}{
		{"form:password", true},
		{"form:Password", true},
		{"form:'password'", true},
		{"form:creds:$.password", true},
		{"form:password:header:Content-Type", true},
		{"form:passwords", false},
		{"form:note", false},
		{"/login/password", true},
		{"/login/user[2]/@password", true},
		{"/{urn:x}login/{urn:x}password", true},
		{"/login/passwordHint", false},
		{"/login/@id", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			ex := &tandem.Exchange{Differences: []tandem.Difference{{Path: tt.path, Kind: tandem.Changed, Legacy: "hunter2", Candidate: "hunter3"}}}
			store.Redact(ex, []string{"password"})
			d := ex.Differences[0]
			if got := d.Legacy == store.Redacted && d.Candidate == store.Redacted; got != tt.secret {
				t.Errorf("%s: values %q, %q; redacted = %v, want %v", tt.path, d.Legacy, d.Candidate, got, tt.secret)
			}
		})
	}
}
