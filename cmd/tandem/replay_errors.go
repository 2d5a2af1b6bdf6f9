package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
)

// printErrors says why services gave no answer (a TLS certificate not
// trusted, a refused connection, …): the counts alone do not tell a user
// what to fix. One example per endpoint, and one of live legacy's.
func printErrors(w io.Writer, res replay.Result) {
	if res.LegacyError != "" {
		fmt.Fprintf(w, "legacy gave no answer to %d requests; first error: %s\n", res.Get(tandem.LegacyError), res.LegacyError)
	}
	var eps []string
	for ep, e := range res.Errors {
		if e != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return
	}
	slices.Sort(eps)
	fmt.Fprintln(w, "errors (one example per endpoint):")
	for _, ep := range eps {
		fmt.Fprintf(w, "  %s: %s\n", ep, strings.TrimSpace(res.Errors[ep]))
	}
}
