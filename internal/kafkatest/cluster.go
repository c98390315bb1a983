package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// ErrUnavailable means this machine lacks what a real broker needs: Java,
// or Maven while the Kafka jars are not cached yet. Shared skips the test
// on it, or fails it when REQUIRE_KAFKA=1.
var ErrUnavailable = errors.New("kafkatest: real Kafka unavailable")

// ErrExternal is returned by the process controls (Kill, Stop, Restart) of
// a cluster this harness did not start, one named by KAFKA_TEST_BROKERS.
var ErrExternal = errors.New("kafkatest: cluster not started by this harness")

// User is a SASL user name and password.
type User struct {
	Name     string
	Password string
}

// Users are the SASL users of a cluster, with random passwords. SCRAM is
// registered for both SCRAM-SHA-512 and SCRAM-SHA-256 (in the cluster
// metadata, at format time); Plain is accepted by the PLAIN mechanism (in
// the listener's JAAS configuration).
type Users struct {
	SCRAM User
	Plain User
}

// Cluster is a running set of Kafka nodes, or the cluster named by
// KAFKA_TEST_BROKERS. Its methods are safe for concurrent use.
type Cluster struct {
	opts      Options
	dir       string // everything of the cluster: ca.pem, node-N/{server.properties,server.log,stdout.log,data}
	java      string
	libs      string
	clusterID string
	// cdsArchive is the class-data-sharing archive the JVMs load from,
	// "" for none.
	cdsArchive string
	certs      certs
	users      Users
	nodes      []*node // nodes[i].id == i+1

	external []string // set only for a cluster named by KAFKA_TEST_BROKERS

	closeOnce sync.Once
	closeErr  error
}

// node is one combined broker and controller. Its ports and data directory
// stay the same across restarts.
type node struct {
	id                                    int
	dir                                   string
	plainPort, securePort, controllerPort int

	mu   sync.Mutex
	proc *process // nil while not running
}

// process is one run of a node's JVM; done closes when it has exited.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // what Wait returned; read only after done
}

// Timeouts of the process controls.
const (
	// stopTimeout bounds a graceful stop: a controlled shutdown moves the
	// node's leaderships away first, which takes seconds, not a minute.
	stopTimeout = time.Minute
	// killTimeout bounds waiting for a SIGKILLed JVM to be reaped.
	killTimeout = 10 * time.Second
	// queryTimeout bounds one metadata question.
	queryTimeout = 10 * time.Second
	// pollInterval paces the readiness and metadata polls.
	pollInterval = 100 * time.Millisecond
)

// Start formats and starts a cluster and returns when every node answers
// a metadata request listing all nodes and a group coordinator is
// elected. The caller must Close it. On error nothing is left running and
// the error names the directory of the logs.
func Start(opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	java, err := findJava()
	if err != nil {
		return nil, err
	}
	libs := opts.LibsDir
	if libs == "" {
		// Not bounded by StartTimeout: the first fetch downloads ~45MB.
		if libs, err = fetchLibs(context.Background()); err != nil {
			return nil, err
		}
	}
	c := &Cluster{opts: opts, java: java, libs: libs}
	if opts.cdsDump == "" {
		c.cdsArchive = sharedArchive(java, libs, opts.StartTimeout)
	}
	if c.dir, err = os.MkdirTemp("", "kafkatest-"); err != nil {
		return nil, fmt.Errorf("kafkatest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()
	if err := c.start(ctx); err != nil {
		c.killAll()
		return nil, fmt.Errorf("%w\nkafkatest: logs kept in %s", err, c.dir)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	var err error
	if c.clusterID, err = newClusterID(); err != nil {
		return err
	}
	if c.certs, err = newCerts(); err != nil {
		return fmt.Errorf("kafkatest: %w", err)
	}
	if err := os.WriteFile(c.CAFile(), c.certs.caPEM, 0o644); err != nil {
		return fmt.Errorf("kafkatest: %w", err)
	}
	c.users = Users{
		SCRAM: User{Name: "scram-user", Password: randomHex(12)},
		Plain: User{Name: "plain-user", Password: randomHex(12)},
	}
	ports, err := freePorts(3 * c.opts.Brokers)
	if err != nil {
		return err
	}
	for i := range c.opts.Brokers {
		c.nodes = append(c.nodes, &node{
			id:             i + 1,
			dir:            filepath.Join(c.dir, fmt.Sprintf("node-%d", i+1)),
			plainPort:      ports[3*i],
			securePort:     ports[3*i+1],
			controllerPort: ports[3*i+2],
		})
	}
	if err := os.WriteFile(c.log4jFile(), []byte(log4jConfig), 0o644); err != nil {
		return fmt.Errorf("kafkatest: %w", err)
	}
	for _, n := range c.nodes {
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return fmt.Errorf("kafkatest: %w", err)
		}
		if err := writeProperties(n.propertiesFile(), c.serverProperties(n)); err != nil {
			return err
		}
	}

	storageTool, err := findClass(c.libs, storageToolClasses...)
	if err != nil {
		return err
	}
	var g errgroup.Group
	for _, n := range c.nodes {
		g.Go(func() error { return c.format(ctx, n, storageTool) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, n := range c.nodes {
		if err := c.launch(n); err != nil {
			return err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	return c.waitGroupCoordinator(ctx)
}

// waitGroupCoordinator asks for a group coordinator until there is one.
// The first question creates __consumer_offsets; asked here, it spares
// the first consumer group of the tests a coordinator-not-available
// answer and the client's back-off after it (5s in kafka-go).
func (c *Cluster) waitGroupCoordinator(ctx context.Context) error {
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.Bootstrap()...), Transport: transport, Timeout: queryTimeout}
	for {
		res, err := client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{
			Key:     "kafkatest-warm-up",
			KeyType: kafka.CoordinatorKeyTypeConsumer,
		})
		if err == nil {
			err = res.Error
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkatest: no group coordinator: %w (last: %v)", ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}

// storageToolClasses are where Kafka versions keep the tool that formats
// KRaft storage; the first one found in the jars is used.
var storageToolClasses = []string{"kafka.tools.StorageTool", "org.apache.kafka.tools.StorageTool"}

// format writes the node's meta.properties and the bootstrap metadata,
// with the SCRAM credentials of Users().SCRAM for both hash sizes.
func (c *Cluster) format(ctx context.Context, n *node, class string) error {
	u := c.users.SCRAM
	args := c.jvmArgs(n, []string{"-Xmx256m"}, class,
		"format",
		"--cluster-id", c.clusterID,
		"--config", n.propertiesFile(),
		"--ignore-formatted",
		"--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", u.Name, u.Password),
		"--add-scram", fmt.Sprintf("SCRAM-SHA-256=[name=%s,password=%s]", u.Name, u.Password),
	)
	cmd := exec.CommandContext(ctx, c.java, args...)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(n.dir, "format.log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("kafkatest: format storage of node %d: %w\n%s", n.id, err, out)
	}
	return nil
}

// jvmArgs are the java arguments to run class with args for node n. The
// JVM is tuned to start fast and stay small: tests make little traffic,
// so the C1 compiler and the serial collector are enough, and the classes
// load from the shared archive (cds.go) when there is one.
func (c *Cluster) jvmArgs(n *node, flags []string, class string, args ...string) []string {
	a := []string{
		"-Xms64m",
		"-XX:+UseSerialGC",
		"-XX:TieredStopAtLevel=1",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + c.log4jFile(),
		"-Dkafka.logs.dir=" + n.dir,
	}
	if c.cdsArchive != "" {
		a = append(a, "-XX:SharedArchiveFile="+c.cdsArchive)
	}
	a = append(a, flags...)
	a = append(a, "-cp", filepath.Join(c.libs, "*"), class)
	return append(a, args...)
}

// launch starts node n's JVM. Its stdout and stderr, where only the JVM's
// own complaints land (the broker logs to server.log), append to
// stdout.log.
func (c *Cluster) launch(n *node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		return fmt.Errorf("kafkatest: node %d is already running", n.id)
	}
	out, err := os.OpenFile(filepath.Join(n.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("kafkatest: %w", err)
	}
	defer out.Close() // the child holds its own copy
	flags := []string{"-Xmx512m"}
	if c.opts.cdsDump != "" {
		flags = append(flags, "-XX:ArchiveClassesAtExit="+c.opts.cdsDump)
	}
	cmd := exec.Command(c.java, c.jvmArgs(n, flags, "kafka.Kafka", n.propertiesFile())...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kafkatest: start node %d: %w", n.id, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.proc = p
	return nil
}

// running returns the node's current process, nil when it is not running.
func (n *node) running() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return nil
	}
	select {
	case <-n.proc.done:
		return nil
	default:
		return n.proc
	}
}

// waitReady returns when every running node answers a metadata request
// that lists every running node: each has joined the quorum, registered
// and been unfenced, and they agree on it.
func (c *Cluster) waitReady(ctx context.Context) error {
	var want []int
	for _, n := range c.nodes {
		if n.running() != nil {
			want = append(want, n.id)
		}
	}
	for _, n := range c.nodes {
		p := n.running()
		if p == nil {
			continue
		}
		var last error
		for {
			res, err := metadata(ctx, n.plainAddr(), []string{})
			if err == nil {
				missing := missingBrokers(res, want)
				if len(missing) == 0 {
					break
				}
				err = fmt.Errorf("metadata lists no broker %v yet", missing)
			}
			last = err
			select {
			case <-p.done:
				return fmt.Errorf("kafkatest: node %d exited while starting (%v); last lines of %s:\n%s",
					n.id, p.err, n.logFile(), tail(n.logFile(), 30))
			case <-ctx.Done():
				return fmt.Errorf("kafkatest: node %d not ready: %w (last: %v); last lines of %s:\n%s",
					n.id, ctx.Err(), last, n.logFile(), tail(n.logFile(), 30))
			case <-time.After(pollInterval):
			}
		}
	}
	return nil
}

// Bootstrap returns the PLAINTEXT addresses of every node, running or not.
func (c *Cluster) Bootstrap() []string {
	if c.external != nil {
		return append([]string(nil), c.external...)
	}
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.plainAddr()
	}
	return addrs
}

// SecureBootstrap returns the SASL_SSL addresses of every node; nil for
// an external cluster.
func (c *Cluster) SecureBootstrap() []string {
	if c.external != nil {
		return nil
	}
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(n.securePort))
	}
	return addrs
}

// CAFile is the path of the PEM certificate of the CA that signed the
// brokers' certificate; "" for an external cluster.
func (c *Cluster) CAFile() string {
	if c.external != nil {
		return ""
	}
	return filepath.Join(c.dir, "ca.pem")
}

// Users returns the SASL users; zero for an external cluster.
func (c *Cluster) Users() Users { return c.users }

// Brokers is the number of nodes; for an external cluster, how many
// brokers its metadata listed when it was first asked for.
func (c *Cluster) Brokers() int { return c.opts.Brokers }

// External reports whether the cluster is one named by KAFKA_TEST_BROKERS:
// then SecureBootstrap, CAFile and Users are empty and Kill, Stop and
// Restart return ErrExternal.
func (c *Cluster) External() bool { return c.external != nil }

// Dir is the directory holding the cluster's configuration, data and
// logs (node-N/server.log); "" for an external cluster.
func (c *Cluster) Dir() string { return c.dir }

// Kill sends SIGKILL to node id, a crash without controlled shutdown, and
// returns when the process has exited. Its partitions get new leaders
// once the controller fences it, about broker.session.timeout.ms (3s)
// later.
func (c *Cluster) Kill(id int) error {
	n, _, exited, err := c.signal(id, syscall.SIGKILL, killTimeout)
	if err != nil || exited {
		return err
	}
	return fmt.Errorf("kafkatest: node %d did not exit %s after SIGKILL", n.id, killTimeout)
}

// Stop sends SIGTERM to node id, a controlled shutdown that hands its
// leaderships over first, and returns when the process has exited. A node
// still running after a minute is killed and reported.
func (c *Cluster) Stop(id int) error {
	n, p, exited, err := c.signal(id, syscall.SIGTERM, stopTimeout)
	if err != nil || exited {
		return err
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("kafkatest: node %d ignored SIGTERM for %s and was killed; see %s", n.id, stopTimeout, n.logFile())
}

// signal sends sig to node id, which must be running, and reports whether
// its process exited within timeout.
func (c *Cluster) signal(id int, sig syscall.Signal, timeout time.Duration) (n *node, p *process, exited bool, err error) {
	n, p, err = c.runningNode(id)
	if err != nil {
		return nil, nil, false, err
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return n, p, true, nil
	case <-time.After(timeout):
		return n, p, false, nil
	}
}

// Restart starts node id again with the same ports and data, stopping it
// first (SIGTERM) when it runs, and returns when every running node lists
// it in its metadata. Catching up on partitions it missed happens after:
// wait on Partition(...).ISR for that.
func (c *Cluster) Restart(id int) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if n.running() != nil {
		if err := c.Stop(id); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.proc = nil
	n.mu.Unlock()
	if err := c.launch(n); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	return c.waitReady(ctx)
}

// Close kills every node (the data is thrown away, so there is nothing to
// shut down gracefully for) and removes the cluster's directory. It is
// safe to call twice.
func (c *Cluster) Close() error { return c.close(true) }

func (c *Cluster) close(removeDir bool) error {
	c.closeOnce.Do(func() {
		c.killAll()
		if removeDir && c.dir != "" {
			c.closeErr = os.RemoveAll(c.dir)
		}
	})
	return c.closeErr
}

func (c *Cluster) killAll() {
	for _, n := range c.nodes {
		if p := n.running(); p != nil {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(killTimeout):
			}
		}
	}
}

func (c *Cluster) node(id int) (*node, error) {
	if c.external != nil {
		return nil, ErrExternal
	}
	if id < 1 || id > len(c.nodes) {
		return nil, fmt.Errorf("kafkatest: no node %d (nodes are 1..%d)", id, len(c.nodes))
	}
	return c.nodes[id-1], nil
}

func (c *Cluster) runningNode(id int) (*node, *process, error) {
	n, err := c.node(id)
	if err != nil {
		return nil, nil, err
	}
	p := n.running()
	if p == nil {
		return nil, nil, fmt.Errorf("kafkatest: node %d is not running", id)
	}
	return n, p, nil
}

func (c *Cluster) log4jFile() string { return filepath.Join(c.dir, "log4j2.properties") }

func (n *node) propertiesFile() string { return filepath.Join(n.dir, "server.properties") }
func (n *node) logFile() string        { return filepath.Join(n.dir, "server.log") }
func (n *node) plainAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.plainPort))
}

// freePorts returns count distinct loopback ports that were free a moment
// ago: all are held open together so none is handed out twice.
func freePorts(count int) ([]int, error) {
	ports := make([]int, 0, count)
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kafkatest: pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newClusterID is what kafka-storage random-uuid prints: 16 random bytes,
// URL-safe base64 without padding. One that starts with '-' would read as
// an option to kafka-storage's argument parser (the tool's own random-uuid
// avoids it too), so such draws are made again.
func newClusterID() (string, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("kafkatest: cluster id: %w", err)
		}
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id, nil
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}
