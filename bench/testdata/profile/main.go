// Command profile serves bench's legacy and candidate backends on loopback
// ports, prints their URLs and waits for a signal: the fixture of the
// per-request CPU profile in BENCHMARKS.md (run.sh drives it). It lives in
// testdata so that go build ./... and go test ./... pass it by.
//
//	go run ./bench/testdata/profile [reorder]
package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandemproxy/tandem/bench"
)

func main() {
	reorder := len(os.Args) > 1 && os.Args[1] == "reorder"
	legacy, err := bench.StartBackend(bench.BackendConfig{Body: bench.Document(4096, false, false)})
	if err != nil {
		log.Fatal(err)
	}
	cand, err := bench.StartBackend(bench.BackendConfig{Body: bench.Document(4096, reorder, false),
		Changed: bench.Document(4096, reorder, true), ChangeEvery: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(legacy.URL(), cand.URL())
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
