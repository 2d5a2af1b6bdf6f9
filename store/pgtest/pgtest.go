// Package pgtest starts throw-away PostgreSQL servers for tests: a cluster
// made with initdb in a temporary directory, on a free loopback port, run
// by pg_ctl as a user PostgreSQL accepts (never root), and removed after.
//
// A test package starts one in TestMain (Main) and gives each test its own
// database (URL). Without the server binaries a test skips with a message
// saying what to install; under CI (CI=true) it fails instead, so that CI
// never passes by skipping.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the admin connection
)

// ErrNoBinaries says that the PostgreSQL server binaries are not
// installed.
var ErrNoBinaries = errors.New("the PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql, or set TANDEM_PG_BIN to their directory")

// Options for StartOptions.
type Options struct {
	// Durable keeps PostgreSQL's defaults for writing safely (fsync,
	// synchronous commit, full page writes), for benchmarks whose numbers
	// must mean what they would on a real server. Tests turn them off:
	// a throw-away cluster need not survive a crash.
	Durable bool
}

// Server is a running throw-away cluster.
type Server struct {
	opts     Options
	bin, dir string
	port     int
	runAs    *user.User // nil: as ourselves
	admin    *sql.DB
	n        atomic.Int64
}

// binDir finds the directory of initdb and pg_ctl: TANDEM_PG_BIN, the
// PATH, or Debian's /usr/lib/postgresql/NN/bin (the newest).
func binDir() (string, error) {
	if d := os.Getenv("TANDEM_PG_BIN"); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start makes and starts a cluster. PostgreSQL refuses to run as root:
// as root, the cluster is made and run by the postgres user, in a
// directory that user owns.
func Start() (*Server, error) { return StartOptions(Options{}) }

// StartOptions is Start with options.
func StartOptions(o Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, opts: o}
	if os.Geteuid() == 0 {
		if s.runAs, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs another user to run as: %w (the postgresql package makes one named postgres)", err)
		}
	}
	if s.dir, err = os.MkdirTemp("", "tandem-pg-"); err != nil {
		return nil, err
	}
	if s.runAs != nil {
		uid, _ := strconv.Atoi(s.runAs.Uid)
		gid, _ := strconv.Atoi(s.runAs.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			s.remove()
			return nil, err
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "tandem", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		s.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// A port found free may be taken before the server binds it: try a
	// few.
	for try := 0; ; try++ {
		if s.port, err = freePort(); err != nil {
			s.remove()
			return nil, err
		}
		if err = s.StartServer(); err == nil || try == 3 {
			break
		}
	}
	if err != nil {
		s.remove()
		return nil, err
	}
	if s.admin, err = sql.Open("pgx", s.url("postgres")); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs one of the server's programs, as the cluster's user.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	name := filepath.Join(s.bin, prog)
	if s.runAs != nil {
		args = append([]string{"-u", s.runAs.Username, "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// StartServer starts the (stopped) server again, on the same port.
func (s *Server) StartServer() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300", s.port, s.dir)
	if !s.opts.Durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	return nil
}

// StopServer stops the server (fast: open connections are cut), keeping
// its data for StartServer.
func (s *Server) StopServer() error {
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Pause stops (SIGSTOP) the server's processes, the postmaster and every
// backend, so that it hangs as a server gone from the network does: what
// is sent to it waits unanswered. Resume undoes it.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues the processes Pause stopped.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

// signal sends sig to the postmaster (named in its postmaster.pid) and its
// children.
func (s *Server) signal(sig syscall.Signal) error {
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("server pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		return fmt.Errorf("server pid: %w", err)
	}
	pids := []int{pid}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, not ")".
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			pids = append(pids, child)
		}
	}
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil {
			return fmt.Errorf("signal %d: %w", p, err)
		}
	}
	return nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
	s.remove()
}

func (s *Server) remove() { os.RemoveAll(s.dir) }

func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://tandem@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

var unsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database for one test (dropped when it
// ends) and returns its URL.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := unsafe.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	name = fmt.Sprintf("t%d_%s", s.n.Add(1), name)
	if len(name) > 60 {
		name = name[:60]
	}
	if _, err := s.admin.ExecContext(context.Background(), "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		s.admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return s.url(name)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var (
	shared   *Server
	startErr error
)

// Main starts the package's server, runs its tests and stops the server:
// call it from TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	shared, startErr = Start()
	if startErr != nil && !errors.Is(startErr, ErrNoBinaries) {
		fmt.Fprintln(os.Stderr, "pgtest: cannot start PostgreSQL:", startErr)
	}
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// Available reports whether the package's server runs.
func Available() bool { return shared != nil }

// URL returns the URL of a new database of the package's server, for one
// test. Without the server binaries the test is skipped, except under CI,
// where it fails; a server that would not start always fails it.
func URL(tb testing.TB) string {
	tb.Helper()
	if shared == nil {
		Unavailable(tb)
	}
	return shared.NewDatabase(tb)
}

// Unavailable skips or fails tb for want of a server (see URL).
func Unavailable(tb testing.TB) {
	tb.Helper()
	switch {
	case startErr == nil:
		tb.Fatal("pgtest: no server: call pgtest.Main from the package's TestMain")
	case errors.Is(startErr, ErrNoBinaries) && os.Getenv("CI") != "true":
		tb.Skip("PostgreSQL test skipped: ", startErr)
	default:
		tb.Fatal("PostgreSQL test cannot run: ", startErr)
	}
}

// Private starts a server of the test's own (for tests that stop it) and
// stops it when the test ends, skipping or failing as URL does.
func Private(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := StartOptions(o)
	if err != nil {
		if errors.Is(err, ErrNoBinaries) && os.Getenv("CI") != "true" {
			tb.Skip("PostgreSQL test skipped: ", err)
		}
		tb.Fatal("PostgreSQL test cannot run: ", err)
	}
	tb.Cleanup(s.Stop)
	return s
}
