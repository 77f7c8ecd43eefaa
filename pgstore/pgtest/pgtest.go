// Package pgtest starts real PostgreSQL servers for tests, the way
// redisstore/redistest starts redis-server: a cluster initdb made (once:
// later servers copy it) on a temporary directory and a free loopback
// port, stopped when the test ends.
// StartStandby adds a streaming replica of a server (synchronous with
// Synchronous, promoted with Promote), and StartProxy a proxy that can cut
// a server off or lose its replies.
// PostgreSQL refuses to run as root, so when the tests run as root (as CI
// does) the server runs as the unprivileged user "postgres" (runuser).
// There are no fakes: if PostgreSQL is not installed the test fails and
// says how to install it.
package pgtest

import (
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const installHint = "install PostgreSQL: apt-get install -y postgresql (the README's test command does this)"

// Server is one running PostgreSQL cluster.
type Server struct {
	// Port is its TCP port on 127.0.0.1.
	Port int
	// Dir is its data directory.
	Dir string

	bin  string
	as   string // the user the server runs as ("" for the current one)
	name string // a standby's application name
	args []string
	proc *exec.Cmd     // the server (or runuser over it), a child of the test so that it is reaped
	done chan struct{} // closed when proc has exited
}

// URL is a connection URL for the cluster's "postgres" database as its
// superuser "seshat", without TLS.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://seshat@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
}

// Binary returns the path of a PostgreSQL program (initdb, pg_ctl,
// postgres), from the newest /usr/lib/postgresql/*/bin or the PATH, or
// fails the test with the install hint.
func Binary(t testing.TB, name string) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if p := filepath.Join(d, name); executable(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("pgtest: %s not found: %s", name, installHint)
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start initializes and starts a cluster that listens on 127.0.0.1 only,
// with trust authentication for the superuser "seshat". settings are extra
// server settings ("name=value", passed as -c name=value). It is stopped
// and its directory removed when the test ends.
func Start(t testing.TB, settings ...string) *Server {
	t.Helper()
	s := newServer(t)
	tpl, err := s.template()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if out, err := exec.Command("cp", "-a", tpl, filepath.Join(s.Dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("pgtest: copying the initdb template: %v\n%s", err, out)
	}
	s.launch(t, settings)
	return s
}

var templates sync.Mutex

// template returns the data directory of a cluster that initdb made and
// no server has run, to copy: a copy takes a fraction of initdb's time.
// It is kept in the temporary directory for every later test process,
// one per PostgreSQL build and user to run it as (the name says which,
// so that an upgrade makes a new one), made in a directory of its own
// and renamed into place, so that processes that start at once never
// see half of one. Its file "complete" holds its files' count and size:
// one that no longer matches (a cleaner took files) is made again.
func (s *Server) template() (string, error) {
	templates.Lock()
	defer templates.Unlock()
	fi, err := os.Stat(filepath.Join(s.bin, "postgres"))
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s %d %d %s %s", s.bin, fi.Size(), fi.ModTime().UnixNano(), s.as, initdbArgs))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pgtest-template-%d-%x", os.Geteuid(), h[:6]))
	data := filepath.Join(dir, "data")
	ready := func() bool {
		want, err := os.ReadFile(filepath.Join(dir, "complete"))
		return err == nil && string(want) == inventory(data)
	}
	if ready() {
		return data, nil
	}
	if _, err := os.Stat(dir); err == nil { // damaged: set aside, then made again
		aside := fmt.Sprintf("%s-damaged-%d", dir, time.Now().UnixNano())
		if os.Rename(dir, aside) == nil {
			os.RemoveAll(aside)
		}
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "pgtest-template-new-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // after a successful rename, nothing is left there
	if err := s.own(tmp); err != nil {
		return "", err
	}
	cmd := s.command("initdb", append([]string{"-D", filepath.Join(tmp, "data")}, strings.Fields(initdbArgs)...)...)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), []byte(inventory(filepath.Join(tmp, "data"))), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil && !ready() { // another process may have won the race
		return "", fmt.Errorf("initdb template: %w", err)
	}
	return data, nil
}

// inventory is the count and total size of the regular files under dir.
func inventory(dir string) string {
	var files, size int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				files, size = files+1, size+fi.Size()
			}
		}
		return nil
	})
	return fmt.Sprintf("%d files, %d bytes", files, size)
}

// initdbArgs are initdb's arguments besides the data directory.
const initdbArgs = "-U seshat --auth=trust -E UTF8 --no-sync --no-instructions"

// own gives dir to the user the server runs as.
func (s *Server) own(dir string) error {
	if s.as == "" {
		return nil
	}
	u, err := user.Lookup(s.as)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	return nil
}

// newServer makes a server's directory (owned by the user it runs as)
// and picks its port; it does not start it.
func newServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{Port: FreePort(t), bin: filepath.Dir(Binary(t, "initdb"))}
	if os.Geteuid() == 0 {
		s.as = "postgres"
		if _, err := user.Lookup(s.as); err != nil {
			t.Fatalf("pgtest: running as root needs the user %q to run PostgreSQL as: %v (%s)", s.as, err, installHint)
		}
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	s.Dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := s.own(dir); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// launch starts the server on its data directory with pgtest's settings
// and settings, stopped when the test ends.
func (s *Server) launch(t testing.TB, settings []string) {
	t.Helper()
	s.args = []string{"-p", strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + s.Dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200"}
	for _, kv := range settings {
		s.args = append(s.args, "-c", kv)
	}
	if err := s.start(); err != nil {
		t.Fatalf("pgtest: %v\n%s", err, s.LogTail())
	}
	t.Cleanup(s.Stop)
}

// command returns a PostgreSQL program as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	prog := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.as, "--", prog}, args...)...)
	} else {
		cmd = exec.Command(prog, args...)
	}
	cmd.Dir = s.Dir
	return cmd
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	return s.command(name, args...).CombinedOutput()
}

// start runs the postmaster as a child of the test process (not daemonized
// by pg_ctl): a killed server is then reaped, and a restart does not find
// its lock file held by a zombie (containers' PID 1 often reaps nothing).
func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.Dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := s.command("postgres", append([]string{"-D", filepath.Join(s.Dir, "data")}, s.args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %v", err)
	}
	s.proc, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	if err := s.waitReady(30 * time.Second); err != nil {
		s.signal(syscall.SIGKILL)
		return err
	}
	return nil
}

// waitReady waits until the server accepts connections (pg_isready: an
// open port is not enough, the server answers "starting up" first).
func (s *Server) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	isready := filepath.Join(s.bin, "pg_isready")
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("PostgreSQL exited at start")
		default:
		}
		if exec.Command(isready, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "seshat", "-d", "postgres").Run() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("PostgreSQL on port %d not ready within %v", s.Port, within)
}

// signal sends sig to the postmaster (whose PID is the first line of its
// lock file: with runuser in between, the child of the test is runuser)
// and waits until it has exited.
func (s *Server) signal(sig syscall.Signal) {
	if s.proc == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	target := s.proc.Process.Pid
	if b, err := os.ReadFile(filepath.Join(s.Dir, "data", "postmaster.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil && pid > 0 {
			target = pid
		}
	}
	_ = syscall.Kill(target, sig)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(target, syscall.SIGKILL)
		_ = s.proc.Process.Kill()
		<-s.done
	}
}

// Stop stops the server at once (PostgreSQL's immediate shutdown);
// stopping a stopped server does nothing.
func (s *Server) Stop() { s.signal(syscall.SIGQUIT) }

// Kill kills the server as a crash would: SIGKILL, no shutdown, no
// checkpoint. Restart brings it back (crash recovery replays the WAL).
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Restart starts a stopped or killed server again, on the same port.
// After a Kill the old server's processes take a moment to notice and
// leave its shared memory; until they have, PostgreSQL refuses to start
// ("pre-existing shared memory block is still in use"), so Restart tries
// again for up to 30 seconds, as a supervisor would.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: restart: %v\n%s", err, s.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// LogTail returns the end of the server's log, for failure messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
