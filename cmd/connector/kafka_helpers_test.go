package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/internal/testkit"
)

// The tests of this package against real Apache Kafka (internal/kafkatest)
// share one three-node cluster and one build of cmd/connector, which they
// run as processes the way production does.

// TestMain is in e2e_test.go: it also stops the shared cluster.

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// connectorBinary builds cmd/connector once per test binary and returns
// its path.
func connectorBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "connector-e2e-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "connector")
		out, err := exec.Command("go", "build", "-o", built.bin, "github.com/contactlab/connector/cmd/connector").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("build cmd/connector: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

func removeBuilt() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// threeBrokers is the package's cluster of three nodes: topics replicated
// three times, min.insync.replicas 2, so that one node may die.
func threeBrokers(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	c := kafkatest.SharedWith(t, kafkatest.Options{Brokers: 3})
	if c.External() {
		t.Skip("the harness cannot kill, restart or reach with SASL_SSL the brokers of an external cluster (KAFKA_TEST_BROKERS)")
	}
	return c
}

// onKafka is what a test on the three-node cluster starts with: the
// cluster, the connector binary, and a sandbox configured by configure
// (nil: the defaults).
func onKafka(t *testing.T, configure func(*sandbox.Config)) (*kafkatest.Cluster, string, *sandbox.Sandbox) {
	t.Helper()
	c := threeBrokers(t)
	return c, connectorBinary(t), sandboxtest.Start(t, configure)
}

// withLatency configures a sandbox whose Contacthub answers after d.
func withLatency(d time.Duration) func(*sandbox.Config) {
	return func(c *sandbox.Config) { c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(d)} }
}

// replicatedTopic creates a topic of the test with partitions partitions,
// on every node, writable while one node is down.
func replicatedTopic(t *testing.T, c *kafkatest.Cluster, kind string, partitions int) string {
	t.Helper()
	return c.CreateTopic(t, kafka.TopicConfig{
		Topic:             kafkatest.UniqueName(t, kind),
		NumPartitions:     partitions,
		ReplicationFactor: 3,
		ConfigEntries:     []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: "2"}},
	})
}

// writeConfigFile writes a connector config: the kafka section as given,
// then the HTTP and log settings every run shares, then rest.
func writeConfigFile(t *testing.T, kafkaSection, rest string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "connector.yaml")
	doc := kafkaSection + `http:
  listen: "127.0.0.1:0"
log:
  level: info
` + rest
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replicatedKafka is the kafka section of a connector on the three-node
// cluster at brokers: the topics it makes replicated three times and
// writable while one node is down, and a group that notices a dead member
// within 3 s.
func replicatedKafka(brokers []string) string {
	return fmt.Sprintf(`kafka:
  brokers: %s
  session_timeout: 3s
  heartbeat_interval: 300ms
  replication_factor: 3
  min_insync_replicas: 2
`, yamlList(brokers))
}

// updatesSource is the sources section of a contacthub-updates source
// named updates that publishes to the topics given, in the group given,
// reading pages of 500 every 50ms; keys of the source may follow.
func updatesSource(customersTopic, eventsTopic, offsetsTopic, group string) string {
	return fmt.Sprintf(`sources:
  - name: updates
    type: contacthub-updates
    customers_topic: %s
    events_topic: %s
    offsets_topic: %s
    group_id: %s
    page_size: 500
    poll_interval: 50ms
`, customersTopic, eventsTopic, offsetsTopic, group)
}

// yamlList renders addrs as a YAML flow list.
func yamlList(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// readyLog records what a process's /readyz says, polled every 200ms, as
// the list of its changes (a change of status or of the units not ready).
type readyLog struct {
	start time.Time
	mu    sync.Mutex
	marks []readyMark
	stop  func()
}

type readyMark struct {
	at    time.Duration
	event string // what the test did, or "" for an answer of /readyz
	r     readiness
}

func recordReadiness(addr string) *readyLog {
	l := &readyLog{start: time.Now()}
	var last string
	l.stop = every(200*time.Millisecond, nil, func() {
		r := askReady(addr)
		if key := readyKey(r); key != last {
			last = key
			l.mu.Lock()
			l.marks = append(l.marks, readyMark{at: time.Since(l.start), r: r})
			l.mu.Unlock()
		}
	})
	return l
}

// readyKey is what makes two answers different: the status and which
// units are not ready (not their reasons' wording, which counts seconds).
func readyKey(r readiness) string {
	keys := make([]string, 0, len(r.NotReady))
	for k := range r.NotReady {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprint(r.Code, keys)
}

// mark notes what the test did at this moment, between the answers.
func (l *readyLog) mark(event string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marks = append(l.marks, readyMark{at: time.Since(l.start), event: event})
}

// since returns the answers recorded after the last mark named event.
func (l *readyLog) since(event string) []readiness {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []readiness
	for _, m := range l.marks {
		switch {
		case m.event == event:
			out = nil
		case m.event == "":
			out = append(out, m.r)
		}
	}
	return out
}

// close stops the polling and returns the record as lines.
func (l *readyLog) close() string {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, m := range l.marks {
		if m.event != "" {
			fmt.Fprintf(&b, "  %6.1fs  -- %s\n", m.at.Seconds(), m.event)
			continue
		}
		fmt.Fprintf(&b, "  %6.1fs  /readyz %s\n", m.at.Seconds(), m.r)
	}
	return b.String()
}

// waitReady waits until the process's /readyz answers 200.
func waitReady(t *testing.T, p *proc, within time.Duration) {
	t.Helper()
	testkit.WaitFor(t, within, "/readyz to answer 200", func() (bool, string) {
		if p.opsAddr() == "" {
			return false, "no ops address yet"
		}
		r := askReady(p.opsAddr())
		return r.Code == http.StatusOK, r.String()
	})
}

// running fails the test if the process has exited.
func (p *proc) running(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("the connector exited (%v):\n%s", p.cmd.ProcessState, p.logText())
	default:
	}
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// logSummary counts the process's warnings and errors by message, for the
// test's log: what a failure cost, as an operator would see it.
func (p *proc) logSummary() string {
	counts := map[string]int{}
	var order []string
	for _, line := range strings.Split(p.logText(), "\n") {
		var l struct {
			Level, Msg string
		}
		if json.Unmarshal([]byte(line), &l) != nil || (l.Level != "WARN" && l.Level != "ERROR") {
			continue
		}
		k := l.Level + " " + l.Msg
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "  %5d x %s\n", counts[k], k)
	}
	return b.String()
}
