package mirror

import "github.com/valyala/fasthttp"

// answerLegacyFailed answers the client in legacy's place when legacy gave
// no answer: 504 when it ran out of time, 502 otherwise, whatever was set
// on the response before discarded. The client path, streaming, serving
// and upgrades all answer a failed legacy with these words.
func answerLegacyFailed(ctx *fasthttp.RequestCtx, timedOut bool) {
	ctx.Response.Reset()
	if timedOut {
		ctx.Error("tandem: legacy did not answer in time\n", fasthttp.StatusGatewayTimeout)
		return
	}
	ctx.Error("tandem: legacy is unavailable\n", fasthttp.StatusBadGateway)
}
