package main

import (
	"context"
	"testing"

	"github.com/tandemproxy/tandem/store"
)

// mustOpen opens the database a tandem process wrote (it must exist); the
// caller closes it.
func mustOpen(t *testing.T, path string) *store.DB {
	t.Helper()
	s, err := store.Open(context.Background(), path, store.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
