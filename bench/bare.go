package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// BareProxy is the design's limit on this hardware, measured beside tandem:
// a fasthttp loop that serves each request from legacy and fires a copy at
// the candidate through a bounded queue and workers, as tandem does, but
// without comparing, recording, rules, metrics or any of tandem's care for
// headers and bodies. Only tandem bench runs it (as its own process, like
// tandem). With candidate empty it only proxies: the limit for tandem
// --sample 0.
func BareProxy(ctx context.Context, ln net.Listener, legacy, candidate string) error {
	client := func(u string) *fasthttp.HostClient {
		return &fasthttp.HostClient{Addr: strings.TrimPrefix(u, "http://"), MaxConns: 4096,
			ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxIdemponentCallAttempts: 1}
	}
	lc, cc := client(legacy), client(candidate)
	queue := make(chan *fasthttp.Request, 4096)
	var wg sync.WaitGroup
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			for req := range queue {
				cc.DoTimeout(req, resp, 5*time.Second)
				fasthttp.ReleaseRequest(req)
			}
		}()
	}
	srv := &fasthttp.Server{
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		Handler: func(rc *fasthttp.RequestCtx) {
			if candidate == "" {
				if err := lc.DoTimeout(&rc.Request, &rc.Response, 30*time.Second); err != nil {
					rc.Error("legacy is unavailable", fasthttp.StatusBadGateway)
				}
				return
			}
			cp := fasthttp.AcquireRequest()
			rc.Request.CopyTo(cp)
			if err := lc.DoTimeout(&rc.Request, &rc.Response, 30*time.Second); err != nil {
				rc.Error("legacy is unavailable", fasthttp.StatusBadGateway)
			}
			select {
			case queue <- cp:
			default:
				fasthttp.ReleaseRequest(cp)
			}
		},
	}
	go func() {
		<-ctx.Done()
		srv.Shutdown()
	}()
	fmt.Fprintf(os.Stderr, "msg=\"bare proxy listening\" addr=%s\n", ln.Addr())
	err := srv.Serve(ln)
	close(queue)
	wg.Wait()
	return err
}
