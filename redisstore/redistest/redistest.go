// Package redistest starts real redis-server processes on free loopback
// ports for tests — a standalone server, a Cluster, a Sentinel group, a
// server with TLS — and stops them when the test ends; Topologies runs a
// test on each way of deploying Redis, and a Proxy drops or delays
// replies as a network does. There are no fakes: if redis-server is not
// installed the test fails and says how to install it.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const installHint = "install Redis: apt-get install -y redis-server redis-tools (the README's test command does this)"

// Server is one running redis-server process.
type Server struct {
	// Port is its port on 127.0.0.1.
	Port int
	// Dir is its working directory (its log, its data), removed when the
	// test ends.
	Dir  string
	args []string
	bin  string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// Addr is the server's host:port on 127.0.0.1.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is a redis:// URL for the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Binary returns the path of a Redis program, failing the test with an
// install hint when it is missing.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: %s", name, installHint)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a standalone redis-server with extra configuration
// arguments (for example "--maxmemory", "10mb"; a configuration file may
// come first) and waits until it answers.
// It is stopped when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return startIn(t, t.TempDir(), args...)
}

func startIn(t testing.TB, dir string, args ...string) *Server {
	t.Helper()
	s := &Server{bin: Binary(t, "redis-server"), Dir: dir}
	var conf []string // a configuration file must come first
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		conf, args = args[:1], args[1:]
	}
	for attempt := 0; ; attempt++ {
		s.Port = FreePort(t)
		s.args = append(append(conf[:len(conf):len(conf)],
			"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.Dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"),
			args...)
		err := s.start()
		if err == nil {
			break
		}
		s.Stop()
		if attempt == 3 {
			t.Fatalf("redis-server did not start: %v\n%s", err, s.LogTail())
		}
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	log, err := os.OpenFile(filepath.Join(s.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	s.cmd, s.log = cmd, log
	return waitReady(s.Addr(), 10*time.Second)
}

// waitReady polls PING until the server answers PONG.
func waitReady(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprint(c, "PING\r\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")) {
				return nil
			}
			last = fmt.Errorf("PING answered %q, %v", line, err)
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", addr, within, last)
}

// Stop kills the server (SIGKILL) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

// Restart starts a stopped server again on the same port and directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("restart redis-server: %v\n%s", err, s.LogTail())
	}
}

// Signal sends sig to the server process (SIGSTOP, SIGCONT, ...).
func (s *Server) Signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("not running")
	}
	return s.cmd.Process.Signal(sig)
}

// LogTail returns the last 2,000 bytes of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Client returns a go-redis client for the server, closed when the test
// ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// Cluster is a Redis Cluster of masters (and optional replicas) on
// loopback.
type Cluster struct {
	// Masters are the nodes that were masters when the cluster started.
	Masters []*Server
	// Replicas are the nodes that were replicas when it started.
	Replicas []*Server
}

// Addrs returns the addresses of all nodes.
func (c *Cluster) Addrs() []string {
	var a []string
	for _, s := range append(append([]*Server{}, c.Masters...), c.Replicas...) {
		a = append(a, s.Addr())
	}
	return a
}

// URL is a redis+cluster:// URL for the cluster.
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs(), ",") }

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { cl.Close() })
	return cl
}

// StartCluster starts masters redis-server nodes in cluster mode, each
// with replicasPer replicas, joins them with redis-cli --cluster create,
// and waits until every node reports cluster_state:ok.
func StartCluster(t testing.TB, masters, replicasPer int) *Cluster {
	t.Helper()
	cli := Binary(t, "redis-cli")
	c := &Cluster{}
	var nodes []*Server
	for i := 0; i < masters*(1+replicasPer); i++ {
		// Without full coverage the slots of healthy masters keep serving
		// while a failed master's replica is promoted.
		nodes = append(nodes, startNode(t))
	}
	args := []string{"--cluster", "create"}
	for _, s := range nodes {
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPer), "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range nodes {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr()})
		for {
			info, err := cl.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				t.Fatalf("cluster node %s not ok after 30s: %v %s", s.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	// Roles settle, and replicas finish their first sync, after the
	// cluster reports ok: wait for both, so that a test that kills a
	// master right away has a replica to promote.
	for {
		c.Masters, c.Replicas = nil, nil
		synced := 0
		for _, s := range nodes {
			cl := redis.NewClient(&redis.Options{Addr: s.Addr()})
			info, _ := cl.Info(ctx, "replication").Result()
			cl.Close()
			switch {
			case strings.Contains(info, "role:slave"):
				c.Replicas = append(c.Replicas, s)
				if strings.Contains(info, "master_link_status:up") && !strings.Contains(info, "master_sync_in_progress:1") {
					synced++
				}
			case strings.Contains(info, "role:master"):
				c.Masters = append(c.Masters, s)
			}
		}
		if len(c.Masters) == masters && synced == masters*replicasPer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster: %d masters and %d synced replicas after 30s, want %d and %d",
				len(c.Masters), synced, masters, masters*replicasPer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every node must know the whole slot map before clients route by it.
	cl := c.Client(t)
	for {
		err := cl.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() })
		if err == nil {
			if slots, err := cl.ClusterSlots(ctx).Result(); err == nil && len(slots) >= masters {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not routable after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// startNode starts a redis-server in cluster mode, in no cluster yet.
// Its directory is in memory where the machine has a tmpfs: a node
// writes and fsyncs nodes.conf at every change of the slot map, which
// made moving a quarter of 16,384 slots between 40 nodes take minutes on
// a disk, and seconds in memory.
func startNode(t testing.TB) *Server {
	t.Helper()
	dir := ""
	if d, err := os.MkdirTemp("/dev/shm", "redistest-"); err == nil {
		dir = d
		t.Cleanup(func() { os.RemoveAll(d) })
	} else {
		dir = t.TempDir()
	}
	return startIn(t, dir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no")
}

// AddMasters starts n more cluster nodes, joins them to the cluster as
// masters that hold no slot (CLUSTER MEET), and waits until every node
// knows every other one. They are appended to Masters and returned.
func (c *Cluster) AddMasters(t testing.TB, n int) []*Server {
	t.Helper()
	ctx := context.Background()
	added := make([]*Server, n)
	for i := range added {
		added[i] = startNode(t)
		cl := redis.NewClient(&redis.Options{Addr: added[i].Addr()})
		err := cl.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Masters[0].Port)).Err()
		cl.Close()
		if err != nil {
			t.Fatalf("CLUSTER MEET from %s: %v", added[i].Addr(), err)
		}
	}
	c.Masters = append(c.Masters, added...)
	all := append(append([]*Server{}, c.Masters...), c.Replicas...)
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range all {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr()})
		for {
			nodes, err := cl.ClusterNodes(ctx).Result()
			known := strings.Count(nodes, "\n")
			if err == nil && known == len(all) && !strings.Contains(nodes, "handshake") && !strings.Contains(nodes, "noaddr") {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				t.Fatalf("node %s knows %d of %d nodes after 30s: %v\n%s", s.Addr(), known, len(all), err, nodes)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	return added
}

// MoveSlots moves n slots, with their keys, from the masters holding most
// to the masters in to, spread evenly, while clients keep working: the
// procedure Redis Cluster documents for resharding, slot by slot (CLUSTER
// SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE of the
// slot's keys, then SETSLOT NODE on both; the other nodes learn from
// gossip, and clients meet MOVED, ASK and TRYAGAIN on the way). Four slots
// move at a time. It returns how many keys moved.
//
// redis-cli --cluster reshard does the same but also tells every master
// of every slot, which on 40 nodes sharing this machine's cores made a
// quarter of the slots take minutes.
func (c *Cluster) MoveSlots(t testing.TB, n int, to []*Server) int64 {
	t.Helper()
	ctx := context.Background()
	type node struct {
		s  *Server
		cl *redis.Client
		id string
		n  int // slots held
	}
	byAddr := map[string]*node{}
	for _, s := range c.Masters {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr(), ReadTimeout: 30 * time.Second})
		defer cl.Close()
		id, err := cl.ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER MYID %s: %v", s.Addr(), err)
		}
		byAddr[s.Addr()] = &node{s: s, cl: cl, id: id}
	}
	slots, err := byAddr[c.Masters[0].Addr()].cl.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	owned := map[*node][]int{}
	for _, r := range slots {
		src := byAddr[r.Nodes[0].Addr]
		if src == nil {
			t.Fatalf("CLUSTER SLOTS names %s, not a master of this cluster", r.Nodes[0].Addr)
		}
		for i := r.Start; i <= r.End; i++ {
			owned[src] = append(owned[src], int(i))
		}
	}
	type move struct {
		slot     int
		from, to *node
	}
	var moves []move
	for k := range n {
		var from *node // the master holding most slots now
		for nd, sl := range owned {
			if from == nil || len(sl) > len(owned[from]) || len(sl) == len(owned[from]) && nd.s.Port < from.s.Port {
				from = nd
			}
		}
		dst := byAddr[to[k%len(to)].Addr()]
		sl := owned[from]
		moves = append(moves, move{sl[len(sl)-1], from, dst})
		owned[from] = sl[:len(sl)-1]
	}
	var (
		next, keys atomic.Int64
		wg         sync.WaitGroup
		errMu      sync.Mutex
		first      error
	)
	moveOne := func(m move) error {
		if err := m.to.cl.Do(ctx, "cluster", "setslot", m.slot, "importing", m.from.id).Err(); err != nil {
			return fmt.Errorf("SETSLOT %d IMPORTING on %s: %w", m.slot, m.to.s.Addr(), err)
		}
		if err := m.from.cl.Do(ctx, "cluster", "setslot", m.slot, "migrating", m.to.id).Err(); err != nil {
			return fmt.Errorf("SETSLOT %d MIGRATING on %s: %w", m.slot, m.from.s.Addr(), err)
		}
		for {
			ks, err := m.from.cl.ClusterGetKeysInSlot(ctx, m.slot, 100).Result()
			if err != nil {
				return fmt.Errorf("GETKEYSINSLOT %d on %s: %w", m.slot, m.from.s.Addr(), err)
			}
			if len(ks) == 0 {
				break
			}
			args := []any{"migrate", "127.0.0.1", m.to.s.Port, "", 0, 10000, "keys"}
			for _, k := range ks {
				args = append(args, k)
			}
			if err := m.from.cl.Do(ctx, args...).Err(); err != nil {
				return fmt.Errorf("MIGRATE of slot %d from %s: %w", m.slot, m.from.s.Addr(), err)
			}
			keys.Add(int64(len(ks)))
		}
		for _, nd := range []*node{m.to, m.from} {
			if err := nd.cl.Do(ctx, "cluster", "setslot", m.slot, "node", m.to.id).Err(); err != nil {
				return fmt.Errorf("SETSLOT %d NODE on %s: %w", m.slot, nd.s.Addr(), err)
			}
		}
		return nil
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(moves) {
					return
				}
				if err := moveOne(moves[i]); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		t.Fatalf("moving slots: %v", first)
	}
	return keys.Load()
}

// Sentinel is a master, its replicas, and sentinels watching them.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the master under.
	MasterName string
	// Master is the server that was the master when the group started.
	Master *Server
	// Replicas are its replicas.
	Replicas []*Server
	// Sentinels are the sentinel processes.
	Sentinels []*Server
}

// SentinelAddrs returns the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string {
	var a []string
	for _, x := range s.Sentinels {
		a = append(a, x.Addr())
	}
	return a
}

// URL is a redis+sentinel:// URL for the group.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + strings.Join(s.SentinelAddrs(), ",") + "/" + s.MasterName
}

// Client returns a failover client, closed when the test ends.
func (s *Sentinel) Client(t testing.TB) *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs()})
	t.Cleanup(func() { c.Close() })
	return c
}

// StartSentinel starts a master with replicas and sentinels (quorum 2)
// and waits until every sentinel knows the master and its replicas.
func StartSentinel(t testing.TB, replicas, sentinels int) *Sentinel {
	t.Helper()
	g := &Sentinel{MasterName: "seshat-master"}
	g.Master = Start(t)
	for range replicas {
		g.Replicas = append(g.Replicas, Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(g.Master.Port)))
	}
	for range sentinels {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 5000\n"+
			"sentinel parallel-syncs %[1]s 1\n", g.MasterName, g.Master.Port)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		g.Sentinels = append(g.Sentinels, Start(t, conf, "--sentinel"))
	}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range g.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr()})
		for {
			reps, err := sc.Replicas(ctx, g.MasterName).Result()
			if err == nil && len(reps) >= replicas {
				ok := 0
				for _, r := range reps {
					if r["flags"] == "slave" && r["master-link-status"] == "ok" {
						ok++
					}
				}
				if ok >= replicas {
					break
				}
			}
			if time.Now().After(deadline) {
				sc.Close()
				t.Fatalf("sentinel %s does not see %d healthy replicas after 30s: %v %v", s.Addr(), replicas, reps, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		sc.Close()
	}
	return g
}
