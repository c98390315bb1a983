package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/embedded"
	"github.com/contactlab/connector/streams/streamstest"
)

var fastHealth = streams.HealthPolicy{Interval: 50 * time.Millisecond, BrokerUnreachableAfter: 500 * time.Millisecond,
	FailingAfter: 300 * time.Millisecond, StallAfter: 400 * time.Millisecond}

// restartableBroker starts a broker of one partition that keeps its log in
// a directory of the test's; after b.Close, restart brings it back at the
// same address with what it held.
func restartableBroker(t *testing.T) (b *embedded.Broker, restart func()) {
	t.Helper()
	dir := t.TempDir()
	b, err := embedded.Start(embedded.Config{Partitions: 1, Topics: []string{"in", "dlq"}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	return b, func() {
		t.Helper()
		b2, err := embedded.Start(embedded.Config{Addr: addr, Partitions: 1, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b2.Close)
	}
}

// commitFailingBroker starts a broker whose topic "in" of partitions holds
// records; it refuses every offset commit while failing is true, as it is
// at first.
func commitFailingBroker(t *testing.T, partitions, records int) (addr string, failing *atomic.Bool) {
	t.Helper()
	b, err := embedded.Start(embedded.Config{Partitions: partitions, Topics: []string{"in", "dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	failing = new(atomic.Bool)
	failing.Store(true)
	b.FailOffsetCommits(failing.Load)
	produceN(t, b.Addr(), "in", records)
	return b.Addr(), failing
}

// Lag is the group's, from the brokers: a member that owns no partition
// does not report 0 while records wait.
func TestHealthLagIsTheGroupsLag(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 40)
	cfg := streams.PipelineConfig{Name: "lag", GroupID: "lag", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", Health: fastHealth, SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond}
	a := newAsyncSink()
	pa, _, _ := startPipeline(t, cfg, a)
	streamstest.WaitFor(t, 10*time.Second, "the owner holds every record", func() (bool, string) {
		return a.heldCount() == 40, ""
	})
	cfg.Name = "lag-idle" // same group, no partition left for it
	pb, _, _ := startPipeline(t, cfg, newAsyncSink())
	for _, p := range []*streams.Pipeline{pa, pb} {
		streamstest.WaitFor(t, 10*time.Second, p.Name()+" reports the group's lag", func() (bool, string) {
			c := p.Counts()
			return c.Lag == 40, fmt.Sprintf("lag %d", c.Lag)
		})
	}
}

// When every attempt fails for longer than FailingAfter the pipeline is not
// ready, saying why; the first delivery makes it ready again.
func TestHealthEveryAttemptFailing(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 5)
	var down atomic.Bool
	down.Store(true)
	sink := streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		if down.Load() {
			return errors.New("503 Service Unavailable")
		}
		return nil
	})
	p, _, _ := startPipeline(t, streams.PipelineConfig{Name: "failing", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		Health: fastHealth, Retry: streams.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond}}, sink)
	streamstest.WaitFor(t, 10*time.Second, "not ready: every attempt fails", func() (bool, string) {
		ok, why := p.Ready()
		return !ok && strings.Contains(why, "every delivery attempt failed") && strings.Contains(why, "503"), why
	})
	down.Store(false)
	streamstest.WaitFor(t, 10*time.Second, "ready after deliveries succeed", func() (bool, string) {
		ok, why := p.Ready()
		return ok, why
	})
}

// A record unfinished for longer than StallAfter makes the pipeline not
// ready, naming the record, and shows in the oldest-unfinished age.
func TestHealthStall(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 1)
	sink := newAsyncSink()
	p, _, _ := startPipeline(t, streams.PipelineConfig{Name: "stall", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		Health: fastHealth}, sink)
	streamstest.WaitFor(t, 10*time.Second, "not ready: stalled", func() (bool, string) {
		ok, why := p.Ready()
		return !ok && strings.Contains(why, "stalled: record in/0@0"), why
	})
	sink.answer(0, nil)
	streamstest.WaitFor(t, 10*time.Second, "ready once the record finished", func() (bool, string) {
		ok, why := p.Ready()
		return ok, why
	})
}

// Brokers that stop answering make the pipeline not ready within
// BrokerUnreachableAfter; it is ready again once they are back.
func TestHealthBrokerUnreachable(t *testing.T) {
	b, restart := restartableBroker(t)
	addr := b.Addr()
	produceN(t, addr, "in", 3)
	sink := streams.PerRecord(func(context.Context, *streams.Record) error { return nil })
	p, _, _ := startPipeline(t, streams.PipelineConfig{Name: "brokerdown", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		Health: fastHealth, SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 10*time.Second, "ready", func() (bool, string) { return p.Ready() })
	b.Close()
	streamstest.WaitFor(t, 10*time.Second, "not ready: Kafka unreachable", func() (bool, string) {
		ok, why := p.Ready()
		return !ok && strings.Contains(why, "Kafka unreachable") && strings.Contains(why, addr), why
	})
	restart()
	streamstest.WaitFor(t, 20*time.Second, "ready once the broker is back", func() (bool, string) { return p.Ready() })
}

// While commits fail, fetching stops once MaxInFlight records are fetched
// and uncommitted, so a restart after the outage repeats at most
// MaxInFlight records; when commits work again, everything is delivered.
func TestCommitOutageBoundsTheUncommittedWindow(t *testing.T) {
	addr, failing := commitFailingBroker(t, 2, 1000)
	var delivered atomic.Int64
	sink := streams.PerRecord(func(context.Context, *streams.Record) error { delivered.Add(1); return nil })
	const window = 100
	p, _, _ := startPipeline(t, streams.PipelineConfig{Name: "window", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		MaxInFlight: window, CommitInterval: 20 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 10*time.Second, "the window filled", func() (bool, string) {
		return delivered.Load() >= window, fmt.Sprint(delivered.Load())
	})
	// A negative claim needs time: fifty commit intervals with no more
	// fetched than the window.
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if c := p.Counts(); c.Consumed > window {
			t.Fatalf("fetched %d records while none could be committed; window %d", c.Consumed, window)
		}
	}
	failing.Store(false)
	streamstest.WaitFor(t, 20*time.Second, "caught up after commits work again", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "window", "in")
	})
	if n := delivered.Load(); n != 1000 {
		t.Fatalf("delivered %d, want 1000", n)
	}
}

// After a commit outage the broker comes back and kafka-go, rejoining,
// reads each partition again from the group's committed offset, which is
// below what the pipeline finished (the offsets of a new generation are
// fetched before it can commit anything). Finishing those records again
// must free their place in the uncommitted window. It once did not: with
// the window full of them the pipeline stopped for good, with no error, no
// unfinished record and /readyz ready.
func TestRereadAfterCommitOutageFreesTheWindow(t *testing.T) {
	b, restart := restartableBroker(t)
	addr := b.Addr()
	b.FailOffsetCommits(func() bool { return true })
	const records, window = 100, 10
	produceN(t, addr, "in", records)
	var delivered atomic.Int64
	sink := streams.PerRecord(func(context.Context, *streams.Record) error { delivered.Add(1); return nil })
	p, _, _ := startPipeline(t, streams.PipelineConfig{Name: "reread", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		MaxInFlight: window, CommitInterval: 20 * time.Millisecond, Health: fastHealth,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 10*time.Second, "the window full of delivered, uncommitted records", func() (bool, string) {
		return delivered.Load() == window, fmt.Sprint(delivered.Load())
	})
	b.Close()
	restart()
	// The test's own clients share kafka-go's default transport, whose
	// pooled connections went with the first broker.
	kafka.DefaultTransport.(*kafka.Transport).CloseIdleConnections()
	streamstest.WaitFor(t, 30*time.Second, "caught up after the broker came back", func() (bool, string) {
		ok, why := streamstest.CaughtUp(t, addr, "reread", "in")
		return ok, fmt.Sprintf("%s; %+v", why, p.Counts())
	})
	if n := delivered.Load(); n > records+window {
		t.Fatalf("delivered %d, want at most %d (the window read again)", n, records+window)
	}
}

// Commits that keep failing while the brokers answer (the group not
// authorised to commit, say) fill the window with finished records: no
// record is unfinished, yet nothing moves. Once fetching has waited
// StallAfter for a commit, the pipeline is not ready, saying so; it is
// ready again when commits free the window.
func TestHealthWindowWaitingForCommits(t *testing.T) {
	addr, failing := commitFailingBroker(t, 1, 50)
	sink := streams.PerRecord(func(context.Context, *streams.Record) error { return nil })
	p, _, _ := startPipeline(t, streams.PipelineConfig{Name: "window-stall", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		MaxInFlight: 10, CommitInterval: 20 * time.Millisecond, Health: fastHealth}, sink)
	streamstest.WaitFor(t, 10*time.Second, "not ready: the window waits for commits", func() (bool, string) {
		ok, why := p.Ready()
		return !ok && strings.Contains(why, "for a commit to free the window of 10 uncommitted records"), why
	})
	failing.Store(false)
	streamstest.WaitFor(t, 10*time.Second, "ready once commits work", func() (bool, string) { return p.Ready() })
	streamstest.WaitFor(t, 10*time.Second, "caught up", func() (bool, string) { return streamstest.CaughtUp(t, addr, "window-stall", "in") })
}

// A partition whose commits the broker keeps refusing (it moved to another
// member) does not hold the others: they are committed one by one, and the
// refused one is given up after a while, so the window of uncommitted
// records does not stop fetching for good.
func TestOneRefusedPartitionDoesNotHoldTheOthers(t *testing.T) {
	b, err := embedded.Start(embedded.Config{Partitions: 2, Topics: []string{"in", "dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	b.FailOffsetCommitsOf(func(topic string, partition int32) bool { return topic == "in" && partition == 1 })
	addr := b.Addr()
	msgs := make([]kafka.Message, 1000)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}
	}
	streamstest.Produce(t, addr, "in", msgs...)
	var delivered atomic.Int64
	sink := streams.PerRecord(func(context.Context, *streams.Record) error { delivered.Add(1); return nil })
	startPipeline(t, streams.PipelineConfig{Name: "onebad", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		MaxInFlight: 100, CommitInterval: 10 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 30*time.Second, "every record delivered and partition 0 committed to its end", func() (bool, string) {
		c := streamstest.Committed(t, addr, "onebad", "in")
		end := streamstest.EndOffsets(t, addr, "in")
		return delivered.Load() >= 1000 && c[0] == end[0] && end[0] > 0, fmt.Sprintf("delivered %d committed %v end %v", delivered.Load(), c, end)
	})
}
