package main_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/internal/e2etest"
	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams/streamstest"
)

// TestBrokerFailover runs one connector process, an events sink and the
// update-stream source, against three brokers (replication factor 3,
// min.insync.replicas 2). While 50,000 events flow, the broker leading the
// most partitions is killed with SIGKILL and restarted later; then, while
// 50,000 more flow, every broker is restarted in turn. Nothing is lost:
// every valid event reaches Contacthub, every invalid one is
// dead-lettered, every Contacthub offset is on the source's topics; the
// connector never restarts, and /readyz is recorded throughout (see the
// test's log) and must be 200 whenever records have moved since the last
// answer.
func TestBrokerFailover(t *testing.T) {
	c, bin, sb := onKafka(t, withLatency(5*time.Millisecond))

	const partitions = 6
	events := replicatedTopic(t, c, "web.events", partitions)
	name := func(kind string) string { return kafkatest.UniqueName(t, kind) }
	dlq, group := name("events.dlq"), name("group")
	customers, changes, offsets := name("customers"), name("changes"), name("offsets")
	cfgPath := writeConfigFile(t, replicatedKafka(c.Bootstrap()), fmt.Sprintf(`%ssinks:
  - name: events
    type: contacthub-events
    topics: [%s]
    group_id: %s
    dead_letter_topic: %s
    concurrency: 32
    retry: {initial: 10ms, max: 500ms}
    health: {interval: 500ms, broker_unreachable_after: 5s}
%s    retry: {initial: 10ms, max: 500ms}
`, sandbox.ContacthubSection(sb.URL()),
		events, group, dlq, updatesSource(customers, changes, offsets, name("source-group"))))

	p := start(t, bin, "run", "-config", cfgPath)
	waitReady(t, p, 60*time.Second)
	ready := recordReadiness(p.opsAddr())
	defer func() { t.Logf("what /readyz said:\n%s", ready.close()) }()

	// The topics the connector made are replicated as configured.
	for _, topic := range []string{dlq, customers, changes, offsets} {
		requireReplicated(t, c, topic)
	}

	// The source publishes while the brokers fail: the stream grows
	// throughout.
	stopUpdates := appendUpdates(sb, 100, 100*time.Millisecond)
	defer stopUpdates()

	bootstrap := c.Bootstrap()[0]
	var good [][]byte
	bad := map[string]bool{}
	produce := func(seed uint64) {
		msgs, g, b := e2etest.Events(seed, 50_000, 100)
		good = append(good, g...)
		for v := range b {
			bad[v] = true
		}
		streamstest.Produce(t, bootstrap, events, msgs...)
	}
	accepted := func() int64 { return sb.Contacthub.Stats().Accepted }
	// progress waits until Contacthub accepted n more events than now.
	progress := func(what string, n int64) {
		t.Helper()
		from := accepted()
		testkit.WaitFor(t, 90*time.Second, what, func() (bool, string) {
			a := accepted()
			return a >= from+n, fmt.Sprintf("%d accepted, want %d", a, from+n)
		})
	}
	allDelivered := func(what string) {
		t.Helper()
		testkit.WaitFor(t, 3*time.Minute, what, func() (bool, string) {
			ok, why := streamstest.CaughtUp(t, c.Bootstrap()[0], group, events)
			return ok, why
		})
	}

	// restart restarts node id and waits until it is back in sync, marking
	// both (why, a format of id) on the record of /readyz.
	restart := func(id int, why string) {
		t.Helper()
		ready.mark(fmt.Sprintf(why, id))
		if err := c.Restart(id); err != nil {
			t.Fatal(err)
		}
		waitInSync(t, c, events, partitions)
		ready.mark(fmt.Sprintf("node %d back in sync", id))
	}

	// Phase 1: the busiest broker dies without warning, and comes back.
	produce(1)
	progress("the first 10,000 events delivered", 10_000)
	victim := busiestBroker(t, c)
	ready.mark(fmt.Sprintf("SIGKILL node %d", victim))
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	progress(fmt.Sprintf("10,000 events delivered with node %d dead", victim), 10_000)
	downFor := time.Since(killedAt)
	restart(victim, "restart node %d")
	allDelivered("every event committed after the kill")

	// Phase 2: a rolling restart, one node at a time, each back in sync
	// before the next goes, as an operator upgrading the cluster does.
	produce(2)
	for id := 1; id <= c.Brokers(); id++ {
		progress(fmt.Sprintf("5,000 events delivered before node %d restarts", id), 5_000)
		restart(id, "rolling restart of node %d")
	}
	allDelivered("every event committed after the rolling restart")
	// Whatever /readyz said from the kill on was about Kafka.
	requireOnlyKafkaReasons(t, ready.since(fmt.Sprintf("SIGKILL node %d", victim)), c.Bootstrap())
	stopUpdates()
	last := sb.Contacthub.LastOffset()

	// Nothing is lost.
	for i, v := range good {
		if sb.Contacthub.AcceptedCount(v) == 0 {
			t.Fatalf("valid event %d of %d never reached Contacthub: %s", i, len(good), v)
		}
	}
	dead := map[string]bool{}
	for _, m := range streamstest.ReadAll(t, bootstrap, dlq) {
		if !bad[string(m.Value)] {
			t.Fatalf("a valid event was dead-lettered: %s", m.Value)
		}
		dead[string(m.Value)] = true
	}
	if len(dead) != len(bad) {
		t.Fatalf("%d distinct invalid events dead-lettered, want %d", len(dead), len(bad))
	}
	var seen map[int64]int
	testkit.WaitFor(t, 60*time.Second, "every Contacthub offset on the source's topics", func() (bool, string) {
		seen = offsetsPublished(t, bootstrap, customers, changes)
		return int64(len(seen)) >= last, fmt.Sprintf("%d of %d offsets", len(seen), last)
	})
	for off := int64(1); off <= last; off++ {
		if seen[off] == 0 {
			t.Fatalf("offset %d of %d is not on the source's topics", off, last)
		}
	}

	// The connector rode it out: still the first process, ready, and it
	// never stopped a unit on a failure.
	p.running(t)
	waitReady(t, p, 30*time.Second)
	logs := p.logText()
	if n := strings.Count(logs, `"msg":"connector starting"`); n != 1 {
		t.Fatalf("the connector started %d times", n)
	}
	if strings.Contains(logs, "stopped on a failure") {
		t.Fatalf("a unit failed:\n%s", logs)
	}
	p.stop(t)
	t.Logf("the connector's warnings and errors:\n%s", p.logSummary())
	st := sb.Contacthub.Stats()
	t.Logf("node %d killed, down %s; %d events accepted (%d duplicates), %d dead-lettered, %d Contacthub offsets published (%d twice)",
		victim, downFor.Round(100*time.Millisecond), st.Accepted, st.DuplicateBodies, len(dead), last, repeated(seen))
}

// busiestBroker is the node that leads the most partitions, of every topic.
func busiestBroker(t *testing.T, c *kafkatest.Cluster) int {
	t.Helper()
	best, most := 0, -1
	for id := 1; id <= c.Brokers(); id++ {
		led, err := c.PartitionsLedBy(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(led) > most {
			best, most = id, len(led)
		}
	}
	t.Logf("node %d leads the most partitions (%d)", best, most)
	return best
}

// waitInSync waits until every partition of topic is replicated on every
// node again.
func waitInSync(t *testing.T, c *kafkatest.Cluster, topic string, partitions int) {
	t.Helper()
	testkit.WaitFor(t, 2*time.Minute, topic+" in sync on every node", func() (bool, string) {
		for p := range partitions {
			s, err := c.Partition(topic, p)
			if err != nil || len(s.ISR) != c.Brokers() {
				return false, fmt.Sprintf("%+v %v", s, err)
			}
		}
		return true, ""
	})
}

// requireReplicated fails unless topic has a replica on every node and
// min.insync.replicas 2, as the connector's config asks of the topics it
// creates.
func requireReplicated(t *testing.T, c *kafkatest.Cluster, topic string) {
	t.Helper()
	s, err := c.Partition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Replicas) != 3 {
		t.Fatalf("%s has replicas %v, want three (kafka.replication_factor)", topic, s.Replicas)
	}
	if got, err := c.TopicConfig(topic, "min.insync.replicas"); err != nil || got != "2" {
		t.Fatalf("%s has min.insync.replicas %q (%v), want 2 (kafka.min_insync_replicas)", topic, got, err)
	}
}

// requireOnlyKafkaReasons fails if /readyz gave, during a broker outage,
// a reason that is not about Kafka: one naming Kafka or a broker, or the
// source's leader election (a consumer group, which a moving coordinator
// makes rejoin). A broker down must not look like a failing API, a paused
// credential or a stalled sink.
func requireOnlyKafkaReasons(t *testing.T, answers []readiness, brokers []string) {
	t.Helper()
	for _, r := range answers {
		for unit, why := range r.NotReady {
			if unit == "kafka" || strings.Contains(why, "Kafka") || containsAny(why, brokers) || strings.HasPrefix(why, "joining the leader election") {
				continue
			}
			t.Fatalf("/readyz during the outage: %s is not ready for a reason that is not Kafka's: %q", unit, why)
		}
	}
}

// appendUpdates grows the Contacthub update stream by n updates every
// interval, as customers change, until the returned stop is called.
func appendUpdates(sb *sandbox.Sandbox, n int, interval time.Duration) (stop func()) {
	return every(interval, nil, func() { sb.Contacthub.AppendUpdates(n) })
}

// repeated is how many offsets were published more than once.
func repeated(seen map[int64]int) int {
	n := 0
	for _, c := range seen {
		if c > 1 {
			n++
		}
	}
	return n
}
