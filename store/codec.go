package store

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/tandemproxy/tandem"
)

// codecZstd marks a row whose bodies are zstd frames (column body_codec).
const codecZstd = "zstd"

// maxDecodedBody bounds what a stored body may decode to: bodies are capped
// (--max-body) before they are stored, so a frame claiming more than this
// is corruption, refused instead of allocated.
const maxDecodedBody = 1 << 30

var codec = sync.OnceValues(func() (*zstd.Encoder, *zstd.Decoder) {
	// EncodeAll and DecodeAll are safe for concurrent use; each call runs on
	// its caller's goroutine, so mirror workers compress in parallel.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic(err) // only bad options fail, and these are constants
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecodedBody))
	if err != nil {
		panic(err)
	}
	return enc, dec
})

// bodies are an exchange's bodies as they are written: compressed, on the
// recording goroutine rather than the writer's, which is the one that
// cannot be parallel.
type bodies struct {
	req, legacy, candidate, secondary []byte
}

func compressBodies(ex *tandem.Exchange) *bodies {
	enc, _ := codec()
	z := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return enc.EncodeAll(b, make([]byte, 0, len(b)/4+64))
	}
	bs := &bodies{req: z(ex.Request.Body), legacy: z(ex.Legacy.Body), candidate: z(ex.Candidate.Body)}
	if ex.Secondary != nil {
		bs.secondary = z(ex.Secondary.Body)
	}
	return bs
}

// decodeBody reverses compressBodies for one body read back.
func decodeBody(codecName string, b []byte) ([]byte, error) {
	switch codecName {
	case "":
		return b, nil
	case codecZstd:
		if len(b) == 0 {
			return b, nil
		}
		_, dec := codec()
		out, err := dec.DecodeAll(b, nil)
		if err != nil {
			return nil, fmt.Errorf("decompress body: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown body codec %q (written by a newer tandem?)", codecName)
}

// headersJSON encodes headers as the store keeps them: a JSON list of
// [name, value] pairs in wire order (parseHeaders reads them back).
func headersJSON(h tandem.Headers) string {
	pairs := make([][2]string, len(h))
	for i, f := range h {
		pairs[i] = [2]string{f.Name, f.Value}
	}
	b, _ := json.Marshal(pairs)
	return string(b)
}

func parseHeaders(s string) (tandem.Headers, error) {
	var pairs [][2]string
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, err
	}
	h := make(tandem.Headers, len(pairs))
	for i, p := range pairs {
		h[i] = tandem.Header{Name: p[0], Value: p[1]}
	}
	return h, nil
}
