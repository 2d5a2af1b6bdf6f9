package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExport_Usage(t *testing.T) {
	ctx := context.Background()
	db := tandemDB(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"BadFormat", []string{"--db", db, "--format", "csv"}, exitUsage, `--format "csv": want ndjson or har`},
		{"Missing", []string{"--db", filepath.Join(t.TempDir(), "missing.db")}, exitUsage, "no such database"},
		{"NotTandem", []string{"--db", notTandemDB(t)}, exitUsage, "not a tandem database"},
		{"BadOutcome", []string{"--db", db, "--outcome", "skipped"}, exitUsage, `--outcome "skipped"`},
		// Writing the export over the database would empty the recording.
		{"OutIsDB", []string{"--db", db, "--out", db}, exitUsage, "--out " + db + " is the database"},
		{"OutDirMissing", []string{"--db", db, "--out", filepath.Join(t.TempDir(), "no", "x.ndjson")}, exitFail, "no such file or directory"},
		{"Empty", []string{"--db", db, "--format", "har"}, exitOK, "tandem export: 0 exchanges from " + db},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runTandem(t, ctx, append([]string{"export"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
	// The database is intact.
	if code, _, stderr := runTandem(t, ctx, "report", "--db", db); code != exitOK {
		t.Errorf("report after the exports: exit %d\n%s", code, stderr)
	}
	if st, err := os.Stat(db); err != nil || st.Size() == 0 {
		t.Errorf("the database: %v, %v", st, err)
	}
}
