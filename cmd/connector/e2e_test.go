package main_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/internal/e2etest"
	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/streams/streamstest"
)

// These tests run the real binaries as separate processes: cmd/broker as the
// Kafka broker, kcat (librdkafka) as the outside client, and cmd/connector,
// which is killed with SIGKILL to show that a crash loses nothing.

func kcat(t *testing.T) string {
	p, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("REQUIRE_KCAT") != "" {
			t.Fatal("kcat is required (make test installs it): ", err)
		}
		t.Skip("kcat not installed; make test installs it")
	}
	return p
}

// binaries are built once per test binary (see build) into binDir, which
// TestMain removes.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

// TestMain runs the e2e tests, the chaos suite and the real-Kafka tests
// of this package: the first two spend their time waiting for child
// processes and for outages to pass, not on the CPU of the test binary, so
// they run all at once unless -parallel says otherwise (its default is
// GOMAXPROCS); the last share one Kafka cluster that kafkatest.Main stops.
func TestMain(m *testing.M) {
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "16")
	}
	kafkatest.Main(m, removeBuilt, func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	})
}

// build returns the connector and broker binaries, built the first time a
// test asks: every e2e test runs the same binaries. Under -race the
// connector is built with it too, so that a data race under a crash, an
// outage or a graceful stop fails the test that provoked it.
func build(t *testing.T) (connector, broker string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "connector-e2e-")
		if buildErr != nil {
			return
		}
		for _, c := range []string{"connector", "broker"} {
			args := []string{"build", "-o", filepath.Join(binDir, c)}
			if raceEnabled && c == "connector" {
				args = append(args, "-race")
			}
			out, err := exec.Command("go", append(args, "github.com/contactlab/connector/cmd/"+c)...).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("build %s: %w\n%s", c, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "connector"), filepath.Join(binDir, "broker")
}

// buildAndStartBroker builds the binaries and starts a broker of the
// test's own (startBroker); it returns the connector's binary and the
// broker's address.
func buildAndStartBroker(t *testing.T, partitions int, topics string) (connectorBin, broker string) {
	t.Helper()
	connectorBin, brokerBin := build(t)
	return connectorBin, startBroker(t, brokerBin, partitions, topics)
}

// startBroker runs cmd/broker on a port of its own choosing with topics
// created, waits until it says it listens and returns its address. The
// port is the broker's own bind, not one picked free beforehand: a port
// picked and released could be taken by another test's broker before
// this one binds it, and this test would then talk to that broker.
func startBroker(t *testing.T, bin string, partitions int, topics string) string {
	t.Helper()
	return listening(t, start(t, bin, "-addr", "127.0.0.1:0", "-partitions", fmt.Sprint(partitions), "-topics", topics))
}

// listening waits until the broker process p says it listens, and returns
// the address it says; it fails the test when p exits first (a port taken).
func listening(t *testing.T, p *proc) string {
	t.Helper()
	const said = "broker listening on "
	var addr string
	streamstest.WaitFor(t, 30*time.Second, "the broker to say it listens", func() (bool, string) {
		p.mu.Lock()
		logs := p.logs.String()
		p.mu.Unlock()
		if i := strings.Index(logs, said); i >= 0 {
			addr, _, _ = strings.Cut(logs[i+len(said):], "\n")
			return true, ""
		}
		select {
		case <-p.done:
			t.Fatalf("the broker exited before it listened:\n%s", logs)
		default:
		}
		return false, logs
	})
	return strings.TrimSpace(addr)
}

// proc is a child process whose stderr is scanned for the ops address.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	ops  string
	logs strings.Builder
	done chan struct{}
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	// stdout and stderr are read as one stream: the broker says its
	// address on the first, the connector logs on the second.
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer out.Close()
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			var l struct {
				Msg string `json:"msg"`
				Ops string `json:"ops"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Ops != "" {
				p.ops = l.Ops
			}
			p.mu.Unlock()
		}
		// A line over the scanner's limit ends the scan: what follows is
		// read and dropped, so that the child never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, out)
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.mu.Lock()
		defer p.mu.Unlock()
		if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: data race:\n%s", filepath.Base(bin), p.logs.String())
		}
		if t.Failed() {
			t.Logf("%s %s: its warnings and last lines:\n%s", filepath.Base(bin), strings.Join(args, " "), failureLog(p.logs.String()))
		}
	})
	return p
}

// failureLog is what a failed test shows of a child's log: every line at
// level WARN or ERROR (dead letters, retries, rebalances), at most 200, and
// the last 40 lines, so that a failure that happens once in many runs can
// be read from that run alone.
func failureLog(logs string) string {
	lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
	var b strings.Builder
	n := 0
	for _, l := range lines {
		if n < 200 && (strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`)) {
			b.WriteString(l + "\n")
			n++
		}
	}
	b.WriteString("--- last lines:\n")
	b.WriteString(strings.Join(lines[max(0, len(lines)-40):], "\n"))
	return b.String()
}

// kill stops the process as a crash would (SIGKILL) and waits for it.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// terminate asks the process for a graceful stop (SIGTERM) and waits for it.
func (p *proc) terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

// stop is terminate for a connector that must exit 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.terminate()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("graceful stop exited %d:\n%s", code, p.logs.String())
	}
}

func (p *proc) opsAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ops
}

// every runs step at once and then every interval, in a goroutine of its
// own, until stop is called or until is closed (nil: never). stop waits
// for the step under way to end; it is safe to call more than once.
func every(interval time.Duration, until <-chan struct{}, step func()) (stop func()) {
	stopc, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			step()
			select {
			case <-tick.C:
			case <-stopc:
				return
			case <-until:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(stopc) })
		<-done
	}
}

// opsClient asks a connector's ops endpoint; a frozen process does not
// answer, and must not hold the test.
var opsClient = &http.Client{Timeout: 2 * time.Second}

// getJSON decodes the answer of a process's ops endpoint at path into v.
func getJSON(addr, path string, v any) bool {
	resp, err := opsClient.Get("http://" + addr + path)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v) == nil
}

// getText is the body of a process's ops endpoint at path, "" on error.
func getText(addr, path string) string {
	resp, err := opsClient.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// pipelineCounts are one pipeline's counts on a process's /status.
type pipelineCounts struct {
	Consumed  int64 `json:"consumed"`
	Delivered int64 `json:"delivered"`
	InFlight  int64 `json:"in_flight"`
	Lag       int64 `json:"lag"`
}

// status is a process's /status counts of one pipeline; ok is false when
// the process did not answer.
func (p *proc) status(pipeline string) (c pipelineCounts, ok bool) {
	var st struct {
		Counts map[string]pipelineCounts `json:"counts"`
	}
	if !getJSON(p.opsAddr(), "/status", &st) {
		return c, false
	}
	return st.Counts[pipeline], true
}

// readiness is one answer of /readyz.
type readiness struct {
	Code     int               // 0: no answer
	NotReady map[string]string // unit -> why it is not ready
}

func (r readiness) String() string {
	if r.Code == 0 {
		return "no answer"
	}
	keys := make([]string, 0, len(r.NotReady))
	for k := range r.NotReady {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d", r.Code)
	for _, k := range keys {
		fmt.Fprintf(&b, " [%s: %s]", k, r.NotReady[k])
	}
	return b.String()
}

// has reports whether some unit's reason contains text.
func (r readiness) has(text string) bool {
	for _, why := range r.NotReady {
		if strings.Contains(why, text) {
			return true
		}
	}
	return false
}

// askReady asks a process's /readyz.
func askReady(addr string) readiness {
	var body struct {
		NotReady map[string]string `json:"not_ready"`
	}
	resp, err := opsClient.Get("http://" + addr + "/readyz")
	if err != nil {
		return readiness{}
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return readiness{Code: resp.StatusCode, NotReady: body.NotReady}
}

// writeConfig writes a connector config file: the Kafka, HTTP and log
// settings every e2e run shares, then rest, the APIs and pipelines under
// test. The group timeouts are short, so that a member killed by a test is
// replaced quickly.
func writeConfig(t *testing.T, broker, rest string) string {
	t.Helper()
	return writeConfigWith(t, broker, shortGroupTimeouts, rest)
}

// writeConfigWith is writeConfig with kafkaKeys (indented lines) in the
// kafka section instead of the short group timeouts.
func writeConfigWith(t *testing.T, broker, kafkaKeys, rest string) string {
	t.Helper()
	return writeConfigFile(t, fmt.Sprintf("kafka:\n  brokers: [%q]\n", broker)+kafkaKeys, rest)
}

// eventsConfig writes the config of one Contacthub events pipeline
// (chaosConfig's), its token read from the environment.
func eventsConfig(t *testing.T, broker string, sb *sandbox.Sandbox) string {
	t.Helper()
	os.Setenv("E2E_CONTACTHUB_TOKEN", sandbox.ContacthubToken)
	return chaosConfig(t, broker, sb, "${E2E_CONTACTHUB_TOKEN}", shortGroupTimeouts, "    concurrency: 16\n")
}

// requireAccepted fails unless Contacthub accepted every one of events.
func requireAccepted(t *testing.T, sb *sandbox.Sandbox, events [][]byte) {
	t.Helper()
	e2etest.RequireAccepted(t, sb, events, "event %d never delivered: %s")
}

// kcatProduce writes key<TAB>value lines into topic with kcat.
func kcatProduce(t *testing.T, kcatBin, broker, topic string, lines []string) {
	t.Helper()
	cmd := exec.Command(kcatBin, "-b", broker, "-t", topic, "-P", "-K", "\t", "-z", "snappy")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
}

func TestEndToEndWithOutsideClientAndCrash(t *testing.T) {
	t.Parallel()
	kcatBin := kcat(t)
	connectorBin, brokerAddr := buildAndStartBroker(t, 4, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(2 * time.Millisecond), ServerErrorShare: 0.02}
	})

	const valid, invalid = 6000, 60
	g := demo.NewEventTraffic(7, 300, sandbox.NodeID)
	g.InvalidShare = 0
	var lines []string
	var good [][]byte
	for range valid {
		k, v, _ := g.Next()
		good = append(good, v)
		lines = append(lines, string(k)+"\t"+string(v))
	}
	g.InvalidShare = 1
	for i := 0; i < invalid; {
		k, v, ok := g.Next()
		if ok || strings.ContainsAny(string(v), "\t\n") {
			continue
		}
		at := (i + 1) * len(lines) / (invalid + 1)
		lines = append(lines[:at], append([]string{string(k) + "\t" + string(v)}, lines[at:]...)...)
		i++
	}
	kcatProduce(t, kcatBin, brokerAddr, "web.events", lines)

	cfgPath := eventsConfig(t, brokerAddr, sb)
	out, err := exec.Command(connectorBin, "validate", "-config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "config OK") {
		t.Fatalf("validate: %v %s", err, out)
	}

	// First run: killed with SIGKILL a third of the way through.
	first := start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 60*time.Second, "a third delivered", func() (bool, string) {
		n := sb.Contacthub.Stats().Accepted
		return n > valid/3, fmt.Sprint(n)
	})
	first.kill(t)
	killedAt := sb.Contacthub.Stats().Accepted
	if killedAt >= valid {
		t.Fatalf("the crash came too late to prove anything (%d delivered)", killedAt)
	}

	// Second run finishes the job: nothing the crash interrupted is lost.
	second := start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 90*time.Second, "everything committed after the restart", func() (bool, string) {
		return streamstest.CaughtUp(t, brokerAddr, "connector-events", "web.events")
	})
	requireAccepted(t, sb, good)
	// SIGTERM: graceful stop exits 0.
	second.stop(t)
	if secrets := sandbox.ContacthubToken; strings.Contains(first.logs.String()+second.logs.String(), secrets) {
		t.Fatal("the token appears in the logs")
	}

	// The outside client reads the dead-letter topic with its headers.
	dl, err := exec.Command(kcatBin, "-b", brokerAddr, "-C", "-t", "events.dlq", "-e", "-q", "-f", "%h\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat consume: %v", err)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(dl)), "\n") {
		if l == "" {
			continue
		}
		n++
		if !strings.Contains(l, "dlq.reason=invalid") || !strings.Contains(l, "dlq.source.topic=web.events") {
			t.Fatalf("dead letter without its reason: %s", l)
		}
	}
	if n < invalid {
		t.Fatalf("kcat read %d dead letters, want at least %d (a crash may repeat some)", n, invalid)
	}
	st := sb.Contacthub.Stats()
	t.Logf("killed after %d accepted; total accepted %d, duplicates %d, dead letters read by kcat %d", killedAt, st.Accepted, st.DuplicateBodies, n)
}

func TestTwoProcessesShareThePartitions(t *testing.T) {
	t.Parallel()
	kcatBin := kcat(t)
	connectorBin, brokerAddr := buildAndStartBroker(t, 6, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(5 * time.Millisecond)}
	})
	cfgPath := eventsConfig(t, brokerAddr, sb)

	a := start(t, connectorBin, "run", "-config", cfgPath)
	b := start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 20*time.Second, "both processes up", func() (bool, string) {
		return a.opsAddr() != "" && b.opsAddr() != "", ""
	})
	g := demo.NewEventTraffic(9, 300, sandbox.NodeID)
	g.InvalidShare = 0
	var good [][]byte
	produceBatch := func(n int) {
		var lines []string
		for range n {
			k, v, _ := g.Next()
			good = append(good, v)
			lines = append(lines, string(k)+"\t"+string(v))
		}
		kcatProduce(t, kcatBin, brokerAddr, "web.events", lines)
	}
	// Keep producing until both members have consumed something: the group
	// has split the partitions between them.
	streamstest.WaitFor(t, 60*time.Second, "both processes consuming", func() (bool, string) {
		produceBatch(200)
		ca, _ := a.status("events")
		cb, _ := b.status("events")
		return ca.Consumed > 0 && cb.Consumed > 0, fmt.Sprintf("a=%d b=%d", ca.Consumed, cb.Consumed)
	})
	// The first stops; the second takes over its partitions and finishes.
	a.terminate()
	produceBatch(3000)
	streamstest.WaitFor(t, 60*time.Second, "all committed by the survivor", func() (bool, string) {
		return streamstest.CaughtUp(t, brokerAddr, "connector-events", "web.events")
	})
	requireAccepted(t, sb, good)
}
