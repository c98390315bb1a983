package service_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// sourceConfig is a connector config with one contacthub-updates source on
// kb, which must have started; its topics and group are the defaults, named
// by kb.
func sourceConfig(t testing.TB, kb *testKafka, sb *sandbox.Sandbox, pageSize int) *config.Config {
	t.Helper()
	return testConfig(t, kb.addr, shortGroupTimeouts, sandbox.ContacthubSection(sb.URL())+fmt.Sprintf(`sources:
  - name: updates
    type: contacthub-updates
    page_size: %d
    poll_interval: 20ms
    customers_topic: %s
    events_topic: %s
    offsets_topic: %s
    dead_letter_topic: %s
    group_id: %s
    retry:
      initial: 5ms
      max: 100ms
`, pageSize, kb.name("contacthub.customers"), kb.name("contacthub.events"), kb.name("connector.source-offsets"),
		kb.name("updates.dlq"), kb.name("connector-source-updates")))
}

// newSource builds a service from cfg and returns its source unit, with its
// topics created, for tests that run (and kill) the unit themselves.
func newSource(t testing.TB, cfg *config.Config) (*service.Service, *contacthub.UpdateStreamSource) {
	t.Helper()
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, ok := svc.Units()[0].(*contacthub.UpdateStreamSource)
	if !ok {
		t.Fatalf("unit %T is not an UpdateStreamSource", svc.Units()[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.EnsureTopics(ctx, cfg.Kafka.Brokers, src.Topics()...); err != nil {
		t.Fatal(err)
	}
	return svc, src
}

// caughtUpTo waits until src has published and stored offset want.
func caughtUpTo(t testing.TB, src *contacthub.UpdateStreamSource, want int64, within time.Duration) {
	t.Helper()
	streamstest.WaitFor(t, within, fmt.Sprintf("offset %d published", want), func() (bool, string) {
		p := src.Progress()
		return p.Current >= want, p.String()
	})
}

// A source killed after Kafka acknowledged a page but before its offset was
// stored (the worst moment) resumes from the stored offset: every update is
// published, in offset order per key, and only that page twice.
func TestUpdateStreamSourceResumesAfterAbruptStop(t *testing.T) {
	forEachBroker(t, testUpdateStreamSourceResumesAfterAbruptStop)
}

func testUpdateStreamSourceResumesAfterAbruptStop(t *testing.T, kb *testKafka) {
	const total, pageSize, killAtPage = 100_000, 4000, 10
	broker := kb.start(t, 4)
	sb := sandboxtest.Start(t, nil)
	sb.Contacthub.AppendUpdates(total - int(sb.Contacthub.LastOffset()))
	cfg := sourceConfig(t, kb, sb, pageSize)

	_, first := newSource(t, cfg)
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	var pages atomic.Int64
	var killedAfter atomic.Int64
	first.OnPageProduced(func(ctx context.Context, last int64) {
		if pages.Add(1) == killAtPage {
			killedAfter.Store(last)
			kill()
			<-ctx.Done() // the source's own context: the abort has reached it
		}
	})
	if err := first.RunUntilAbort(ctx); err != nil {
		t.Fatalf("aborted run returned %v", err)
	}
	stored := storedOffset(t, cfg)
	if want := killedAfter.Load() - pageSize; stored != want {
		t.Fatalf("stored offset %d after the kill, want %d (the page before the one killed)", stored, want)
	}

	// The killed replica stays a member of the source's group until its
	// session ends. A restart before that would lead beside it, lose the
	// lead when it is expired, and repeat the page in flight if it did not
	// store it within the grace (half the session: 0.5 s here, which a
	// loaded machine misses): duplicates the test does not mean to count.
	// A crashed process's successor in production meets the same, and
	// repeats at most that page.
	awaitGroupEmpty(t, cfg.Kafka.Brokers, cfg.Sources[0].Settings.(*service.UpdatesSourceConfig).GroupID)

	// The restart is a new service with the same configuration, run as
	// production runs it.
	svc := startService(t, cfg)
	second := svc.Units()[0].(*contacthub.UpdateStreamSource)
	caughtUpTo(t, second, total, 60*time.Second)
	if ok, why := second.Ready(); !ok || why != "active" {
		t.Fatalf("restarted source: ready %v %q, want active", ok, why)
	}
	st := checkPublished(t, broker, cfg.Sources[0], total)
	if st.duplicates != pageSize {
		t.Fatalf("%d updates published twice, want exactly the killed page (%d)", st.duplicates, pageSize)
	}
	if n := storedOffset(t, cfg); n != total {
		t.Fatalf("stored offset %d at the end, want %d", n, total)
	}
	t.Logf("%+v", st)
}

// Two replicas of one source: one tails, the other stands by. When the
// active one dies abruptly while a page is in flight, the standby takes over
// from the stored offset, and the topics have no gap.
func TestUpdateStreamSourceFailover(t *testing.T) { forEachBroker(t, testUpdateStreamSourceFailover) }

func testUpdateStreamSourceFailover(t *testing.T, kb *testKafka) {
	const initial, later, pageSize = 40_000, 3_000, 2000
	broker := kb.start(t, 4)
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		// Slow pages keep the stream going long enough to kill mid-way.
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(30 * time.Millisecond)}
	})
	sb.Contacthub.AppendUpdates(initial - int(sb.Contacthub.LastOffset()))
	cfg := sourceConfig(t, kb, sb, pageSize)

	type replica struct {
		src  *contacthub.UpdateStreamSource
		kill context.CancelFunc
		done chan error
	}
	start := func() *replica {
		_, src := newSource(t, cfg)
		ctx, kill := context.WithCancel(context.Background())
		r := &replica{src: src, kill: kill, done: make(chan error, 1)}
		go func() { r.done <- src.RunUntilAbort(ctx) }()
		t.Cleanup(func() { kill(); <-r.done })
		return r
	}
	a, b := start(), start()
	var active, standby *replica
	streamstest.WaitFor(t, 20*time.Second, "one replica active, one on standby", func() (bool, string) {
		sa, sb := a.src.State(), b.src.State()
		switch {
		case sa == streams.LeaderActive && sb == streams.LeaderStandby:
			active, standby = a, b
		case sb == streams.LeaderActive && sa == streams.LeaderStandby:
			active, standby = b, a
		default:
			return false, fmt.Sprintf("a %s, b %s", sa, sb)
		}
		return true, ""
	})
	if ok, why := standby.src.Ready(); !ok || why == "active" {
		t.Fatalf("standby replica: ready %v %q", ok, why)
	}
	streamstest.WaitFor(t, 30*time.Second, "the active replica mid-stream with a page in flight", func() (bool, string) {
		c := active.src.Counts()
		return c.Delivered >= initial/4 && c.InFlight > 0, fmt.Sprintf("%+v", c)
	})
	active.kill()
	if err := <-active.done; err != nil {
		t.Fatalf("killed replica returned %v", err)
	}
	active.done <- nil // for the cleanup
	killedAt := active.src.Progress().Current
	if killedAt >= initial {
		t.Fatalf("the active replica finished (offset %d) before it was killed", killedAt)
	}

	streamstest.WaitFor(t, 20*time.Second, "the standby to take over", func() (bool, string) {
		return standby.src.State() == streams.LeaderActive, standby.src.State().String()
	})
	caughtUpTo(t, standby.src, initial, 60*time.Second)
	sb.Contacthub.AppendUpdates(later)
	caughtUpTo(t, standby.src, initial+later, 30*time.Second)
	st := checkPublished(t, broker, cfg.Sources[0], initial+later)
	if st.duplicates > pageSize {
		t.Fatalf("%d updates published twice, more than one page (%d)", st.duplicates, pageSize)
	}
	t.Logf("killed at offset %d; %+v", killedAt, st)
}

// publishedStats is what checkPublished found.
type publishedStats struct {
	records, tombstones, duplicates int
	customers, events               int
}

// checkPublished reads the customers and events topics back and checks that
// offsets 1..total are all there, each record well formed and keyed, and the
// records of each key in offset order: a repeated offset may come back
// (at-least-once), but no new offset may follow a greater one of its key.
func checkPublished(t *testing.T, broker string, src config.Source, total int64) publishedStats {
	t.Helper()
	var st publishedStats
	seen := make(map[int64]int, total)
	sc := src.Settings.(*service.UpdatesSourceConfig)
	for _, topic := range []string{sc.CustomersTopic, sc.EventsTopic} {
		msgs := readTopic(t, broker, topic)
		type keyOf struct {
			partition int
			key       string
		}
		newest := map[keyOf]int64{}
		lastDelete := map[keyOf]int64{}
		for _, m := range msgs {
			h := streamstest.Headers(m)
			off, err := strconv.ParseInt(h[contacthub.HeaderOffset], 10, 64)
			if err != nil {
				t.Fatalf("%s/%d@%d: offset header %q: %v", topic, m.Partition, m.Offset, h[contacthub.HeaderOffset], err)
			}
			k := keyOf{m.Partition, string(m.Key)}
			if m.Value == nil {
				// A tombstone follows its customer's DELETE envelope.
				if topic != sc.CustomersTopic || lastDelete[k] != off || h[contacthub.HeaderOperation] != schemas.OperationDelete {
					t.Fatalf("%s/%d@%d: tombstone of offset %d not right after its DELETE (last DELETE of the key: %d)", topic, m.Partition, m.Offset, off, lastDelete[k])
				}
				st.tombstones++
				continue
			}
			env, err := schemas.DecodeUpdateEnvelope(m.Value)
			if err != nil {
				t.Fatalf("%s/%d@%d: %v", topic, m.Partition, m.Offset, err)
			}
			if env.Offset != off || h[contacthub.HeaderOperation] != env.Operation || h[contacthub.HeaderEntityType] != env.EntityType ||
				env.Workspace != sandbox.WorkspaceID || env.EntityKey() != string(m.Key) {
				t.Fatalf("%s/%d@%d: headers %v, key %q disagree with the envelope %+v", topic, m.Partition, m.Offset, h, m.Key, env)
			}
			wantTopic := sc.EventsTopic
			if env.EntityType == schemas.EntityCustomer {
				wantTopic = sc.CustomersTopic
				st.customers++
			} else {
				st.events++
			}
			if topic != wantTopic {
				t.Fatalf("%s/%d@%d: a %s update on the wrong topic", topic, m.Partition, m.Offset, env.EntityType)
			}
			if env.Operation == schemas.OperationDelete {
				lastDelete[k] = off
			}
			st.records++
			seen[off]++
			if seen[off] > 1 {
				st.duplicates++
				continue
			}
			if off < newest[k] {
				t.Fatalf("%s/%d: key %q: offset %d published after %d", topic, m.Partition, m.Key, off, newest[k])
			}
			newest[k] = off
		}
	}
	for o := int64(1); o <= total; o++ {
		if seen[o] == 0 {
			t.Fatalf("offset %d was never published (of %d)", o, total)
		}
	}
	if int64(len(seen)) != total {
		t.Fatalf("%d distinct offsets published, want %d", len(seen), total)
	}
	return st
}

// storedOffset reads the source's stored offset as a restarted replica does.
func storedOffset(t testing.TB, cfg *config.Config) int64 {
	t.Helper()
	sc := cfg.Sources[0]
	st, err := contacthub.NewOffsetStore(cfg.Kafka.Brokers, sc.Settings.(*service.UpdatesSourceConfig).OffsetsTopic, sc.Name,
		config.SectionOf[service.ContacthubConfig](cfg, "contacthub").WorkspaceID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	off, ok, err := st.Load(ctx)
	if err != nil || !ok {
		t.Fatalf("stored offset: %d %v %v", off, ok, err)
	}
	return off
}

// readTopic reads every record of topic up to its end offsets. Unlike
// streamstest.ReadAll it reads through a connection, batch after batch: a
// kafka.Reader waits its MaxWait on Close, which is also the deadline of a
// fetch's answer, too short under -race for the megabytes read here.
func readTopic(t testing.TB, addr, topic string) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p, end := range streamstest.EndOffsets(t, addr, topic) {
		if end == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
		cancel()
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		first, err := conn.ReadFirstOffset()
		if err == nil {
			_, err = conn.Seek(first, kafka.SeekAbsolute)
		}
		for off := first; err == nil && off < end; {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			batch := conn.ReadBatch(1, 4<<20)
			for {
				m, rerr := batch.ReadMessage()
				if rerr != nil {
					if !errors.Is(rerr, io.EOF) {
						err = rerr
					}
					break
				}
				out = append(out, m)
				off = m.Offset + 1
			}
			if cerr := batch.Close(); err == nil {
				err = cerr
			}
		}
		_ = conn.Close()
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
	}
	return out
}

// With envelope: cloudevents the source publishes each change as a
// binary-mode CloudEvent that the SDK reads as valid, whose data is the
// entity and whose id is the update's offset.
func TestUpdateStreamSourceCloudEvents(t *testing.T) {
	kb := newTestKafka(t, kindKfake)
	broker := kb.start(t, 2)
	sb := sandboxtest.Start(t, nil)
	sb.Contacthub.AppendUpdates(500 - int(sb.Contacthub.LastOffset()))
	cfg := sourceConfig(t, kb, sb, 100)
	cfg.Sources[0].Settings.(*service.UpdatesSourceConfig).Envelope = "cloudevents"
	svc := startService(t, cfg)
	caughtUpTo(t, svc.Units()[0].(*contacthub.UpdateStreamSource), 500, 30*time.Second)
	n := 0
	for _, topic := range []string{"contacthub.customers", "contacthub.events"} {
		for _, m := range streamstest.ReadAll(t, broker, topic) {
			if m.Value == nil {
				continue // a tombstone
			}
			r := &streams.Record{Key: m.Key, Value: m.Value}
			for _, h := range m.Headers {
				r.Headers = append(r.Headers, streams.Header{Key: h.Key, Value: h.Value})
			}
			e, err := streams.CloudEventOf(r)
			if err != nil || e == nil {
				t.Fatalf("%s: %s is not a CloudEvent: %v", topic, m.Value, err)
			}
			if e.ID() != string(r.Header(contacthub.HeaderOffset)) || e.Source() != "/contacthub/workspaces/"+sandbox.WorkspaceID ||
				!strings.HasPrefix(e.Type(), contacthub.CloudEventTypePrefix) || bytes.HasPrefix(m.Value, []byte(`{"operation"`)) {
				t.Fatalf("%s: event %s, value %.100s", topic, e, m.Value)
			}
			n++
		}
	}
	if n < 500 {
		t.Fatalf("%d CloudEvents published, want every one of 500 updates", n)
	}
}

// awaitGroupEmpty waits until the consumer group has no member: a killed
// member's session has ended.
func awaitGroupEmpty(t testing.TB, brokers []string, group string) {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	streamstest.WaitFor(t, 30*time.Second, "the killed replica to leave group "+group, func() (bool, string) {
		res, err := cl.DescribeGroups(t.Context(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil {
			return false, err.Error()
		}
		if len(res.Groups) != 1 || res.Groups[0].Error != nil {
			return false, fmt.Sprintf("%+v", res.Groups)
		}
		g := res.Groups[0]
		return len(g.Members) == 0, fmt.Sprintf("%s, %d members", g.GroupState, len(g.Members))
	})
}
