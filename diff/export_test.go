package diff

// Engine names a JSON comparison, for the tests and benchmarks that run
// both: Fast is the one tandem uses; Cmp runs the same comparison through
// github.com/google/go-cmp and is the oracle Fast is tested against.
type Engine string

// The engines.
const (
	Fast Engine = "fast"
	Cmp  Engine = "cmp"
)

// NewEngine is New with the JSON comparison e.
func NewEngine(opts Options, e Engine) *Comparer {
	c := New(opts)
	c.viaCmp = e == Cmp
	return c
}
