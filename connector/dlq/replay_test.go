package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// outageAPI stands for an API: while down it answers every call with a
// retryable failure; a record whose value starts with "bad" it refuses as
// invalid. It counts what it accepted, by key.
type outageAPI struct {
	down     atomic.Bool
	mu       sync.Mutex
	accepted map[string]int
	replayed map[string]string // key -> dlq.replayed-from of the accepted record
}

func (a *outageAPI) deliver(_ context.Context, r *streams.Record) error {
	if bytes.HasPrefix(r.Value, []byte("bad")) {
		return streams.Reject("invalid", errors.New("event: $.type: is required"))
	}
	if a.down.Load() {
		return errors.New("contacthub: POST /workspaces/{workspaceId}/events: HTTP 503: service unavailable")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accepted[string(r.Key)]++
	for _, h := range r.Headers {
		if h.Key == HeaderReplayedFrom {
			a.replayed[string(r.Key)] = string(h.Value)
		}
		if strings.HasPrefix(h.Key, "dlq.") && h.Key != HeaderReplayedFrom {
			return fmt.Errorf("replayed record carries dead-letter header %s", h.Key)
		}
	}
	return nil
}

func (a *outageAPI) snapshot() (map[string]int, map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.accepted), maps.Clone(a.replayed)
}

// Records dead-lettered as retries_exhausted during an API outage all reach
// the API once it is back, after one replay; a second replay replays
// nothing; a replay that does not say which reason is refused while the
// topic holds several; a dry run produces and commits nothing; and the
// invalid ones stay for a replay of their own.
func TestReplayAfterOutage(t *testing.T) {
	addr := streamstest.Broker(t, 3, "web.events", "events.dlq")
	api := &outageAPI{accepted: map[string]int{}, replayed: map[string]string{}}
	api.down.Store(true)
	p, err := streams.NewPipeline(streams.PipelineConfig{
		Name: "events", Brokers: []string{addr}, Topics: []string{"web.events"}, DeadLetterTopic: "events.dlq",
		Retry:          streams.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: 50 * time.Millisecond},
		CommitInterval: 10 * time.Millisecond,
	}, streams.PerRecord(api.deliver))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, p.Run)

	const good, bad = 300, 12
	var msgs []kafka.Message
	for i := range good {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "user-%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i),
			Headers: []kafka.Header{{Key: "trace-id", Value: fmt.Appendf(nil, "t%d", i)}}})
	}
	for i := range bad {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "bad-%d", i), Value: []byte("bad")})
	}
	streamstest.Produce(t, addr, "web.events", msgs...)
	streamstest.WaitFor(t, 60*time.Second, "every record dead-lettered during the outage", func() (bool, string) {
		c := p.Counts()
		return c.DeadLettered == good+bad, fmt.Sprintf("%+v", c)
	})
	api.down.Store(false)

	dlq := Topic{Name: "events.dlq", Sink: "events", Brokers: []string{addr}}
	sourceEnd := streamstest.EndOffsets(t, addr, "web.events")
	group := ReplayGroup("events", "retries_exhausted")
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()

	// Two reasons in the topic and none chosen: refused before anything.
	if _, err := Replay(rctx, dlq, ReplayOptions{}); !errors.Is(err, ErrSeveralReasons) ||
		!strings.Contains(err.Error(), fmt.Sprintf("retries_exhausted %d, invalid %d", good, bad)) {
		t.Fatalf("replay without a reason: %v, want ErrSeveralReasons naming both counts", err)
	}

	// A dry run lists what would go, and moves nothing.
	var listing bytes.Buffer
	res, err := Replay(rctx, dlq, ReplayOptions{Reasons: []string{"retries_exhausted"}, DryRun: true, Out: &listing})
	if err != nil {
		t.Fatal(err)
	}
	if res.Planned != good || strings.Count(listing.String(), "would replay events.dlq/") != good {
		t.Fatalf("dry run planned %d and listed %d lines, want %d", res.Planned, strings.Count(listing.String(), "\n"), good)
	}
	if !maps.Equal(streamstest.EndOffsets(t, addr, "web.events"), sourceEnd) {
		t.Fatal("the dry run produced")
	}
	for part, off := range streamstest.Committed(t, addr, group, "events.dlq") {
		if off >= 0 {
			t.Fatalf("the dry run committed %d on partition %d", off, part)
		}
	}

	// The replay: every dead letter of the outage reaches the API once.
	var progress bytes.Buffer
	res, err = Replay(rctx, dlq, ReplayOptions{Reasons: []string{"retries_exhausted"}, Progress: &progress, ProgressEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != good || res.Planned != good || res.ByTopic["web.events"] != good {
		t.Fatalf("replayed %+v, want %d", res, good)
	}
	streamstest.WaitFor(t, 60*time.Second, "every replayed record delivered", func() (bool, string) {
		acc, _ := api.snapshot()
		return len(acc) == good, fmt.Sprintf("%d of %d", len(acc), good)
	})
	if ok, why := streamstest.CaughtUp(t, addr, group, "events.dlq"); !ok {
		t.Fatalf("replay positions not at the end of the topic: %s", why)
	}

	// A second replay finds nothing new.
	res, err = Replay(rctx, dlq, ReplayOptions{Reasons: []string{"retries_exhausted"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 0 || res.Already != good {
		t.Fatalf("second replay: %+v, want nothing replayed and %d already", res, good)
	}
	streamstest.WaitFor(t, 30*time.Second, "the pipeline caught up", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "events", "web.events")
	})
	acc, from := api.snapshot()
	for i := range good {
		k := fmt.Sprintf("user-%d", i)
		if acc[k] != 1 {
			t.Errorf("%s accepted %d times, want once", k, acc[k])
		}
		if !strings.HasPrefix(from[k], "events.dlq/") {
			t.Errorf("%s accepted without %s (%q)", k, HeaderReplayedFrom, from[k])
		}
	}

	// The invalid ones were left alone: they are still there for a replay
	// of their own.
	res, err = Replay(rctx, dlq, ReplayOptions{Reasons: []string{"invalid"}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Planned != bad {
		t.Fatalf("invalid dead letters planned %d, want %d", res.Planned, bad)
	}
	var summary bytes.Buffer
	res.Print(&summary)
	t.Logf("progress lines %d; last summary:\n%s", strings.Count(progress.String(), "\n"), summary.String())
}

// A time window holds each partition at the first dead letter past it,
// which a later run replays; a dead letter without its value is skipped
// and counted; replayed records keep their key, value, original headers
// and source partition, and -rate paces them.
func TestReplayWindowValuelessAndRate(t *testing.T) {
	addr := streamstest.Broker(t, 4, "web.events", "events.dlq")
	streamstest.Produce(t, addr, "events.dlq", mixedDeadLetters()...)
	dlq := Topic{Name: "events.dlq", Sink: "events", Brokers: []string{addr}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// -until 10:55: the invalid ones (10:05-10:08) and the first two of
	// the outage (10:50, 10:53) go; the rest waits.
	until := time.Date(2026, 11, 23, 10, 55, 0, 0, time.UTC)
	res, err := Replay(ctx, dlq, ReplayOptions{All: true, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 6 || res.Cannot["value not kept"] != 1 || len(res.Held) == 0 {
		t.Fatalf("first run: %+v, want 6 replayed, 1 without its value, some held", res)
	}
	for _, h := range res.Held {
		if h.Reason != "retries_exhausted" || !h.At.After(until) || h.Why != "newer than -until" {
			t.Fatalf("held %+v", h)
		}
	}

	// The rest, paced at 20/s.
	const perSecond = 20
	began := time.Now()
	res, err = Replay(ctx, dlq, ReplayOptions{All: true, Rate: perSecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed != 4 || res.Already != 7 || len(res.Held) != 0 {
		t.Fatalf("second run: %+v, want the 4 held ones replayed", res)
	}
	if took, least := time.Since(began), 3*time.Second/perSecond; took < least {
		t.Fatalf("4 records at %d/s took %s, want at least %s", perSecond, took, least)
	}

	got := streamstest.ReadAll(t, addr, "web.events")
	if len(got) != 10 {
		t.Fatalf("web.events holds %d records, want 10", len(got))
	}
	want := map[string]kafka.Message{}
	for _, m := range mixedDeadLetters() {
		want[string(m.Key)] = m
	}
	seen := map[string]bool{}
	for _, m := range got {
		w := parseLetter(want[string(m.Key)])
		if !bytes.Equal(m.Value, w.Value) || m.Partition != w.SourcePartition {
			t.Errorf("%s: value %q partition %d, want %q partition %d", m.Key, m.Value, m.Partition, w.Value, w.SourcePartition)
		}
		if len(m.Headers) != 2 || m.Headers[0].Key != "trace-id" || string(m.Headers[0].Value) != "t-"+string(m.Key) || m.Headers[1].Key != HeaderReplayedFrom {
			t.Errorf("%s: headers %v, want trace-id and %s", m.Key, m.Headers, HeaderReplayedFrom)
		}
		if from := string(m.Headers[1].Value); seen[from] {
			t.Errorf("%s replayed twice", from)
		} else {
			seen[from] = true
		}
	}
}

// A replay started while another of the same reason runs is refused
// before it joins (joining would stop the first), and the first finishes
// with every dead letter replayed once.
func TestReplayRefusedWhileAnotherRuns(t *testing.T) {
	const n = 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, dlq, first := startSlowReplay(t, ctx, n)
	if _, err := Replay(ctx, dlq, ReplayOptions{}); !errors.Is(err, ErrRunning) {
		t.Fatalf("second replay: %v, want ErrRunning", err)
	}
	o := <-first
	if o.err != nil || o.res.Replayed != n {
		t.Fatalf("first replay: %+v %v, want %d replayed", o.res, o.err, n)
	}
	seen := map[string]bool{}
	for _, m := range streamstest.ReadAll(t, addr, "web.events") {
		from := string(m.Headers[len(m.Headers)-1].Value)
		if seen[from] {
			t.Errorf("%s replayed twice", from)
		}
		seen[from] = true
	}
	if len(seen) != n {
		t.Fatalf("%d dead letters replayed, want %d", len(seen), n)
	}
}

// A run whose group another member joins mid-run (past the ErrRunning
// check) stops with ErrFenced; the next run replays the rest, repeating at
// most the one batch the fenced run had in flight.
func TestReplayFenced(t *testing.T) {
	const n = 30
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, dlq, first := startSlowReplay(t, ctx, n)
	intruder, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: ReplayGroup("events", "retries_exhausted"), Brokers: []string{addr}, Topics: []string{"events.dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan error, 1)
	go func() {
		_, err := intruder.Next(ctx)
		joined <- err
	}()
	if o := <-first; !errors.Is(o.err, ErrFenced) {
		t.Fatalf("the fenced run ended with %v, want ErrFenced", o.err)
	}
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	intruder.Close()

	res, err := Replay(ctx, dlq, ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	times := map[string]int{}
	for _, m := range streamstest.ReadAll(t, addr, "web.events") {
		times[string(m.Headers[len(m.Headers)-1].Value)]++
	}
	twice := 0
	for from, k := range times {
		if k > 2 {
			t.Errorf("%s replayed %d times", from, k)
		}
		if k == 2 {
			twice++
		}
	}
	if len(times) != n || twice > 1 {
		t.Fatalf("%d dead letters replayed, %d of them twice; want %d, at most one (the batch in flight) twice; last run %+v", len(times), twice, n, res)
	}
	t.Logf("the run after the fenced one replayed %d; %d replayed twice", res.Replayed, twice)
}

// replayOutcome is what a replay run in the background returned.
type replayOutcome struct {
	res *ReplayResult
	err error
}

// startSlowReplay puts n retryable dead letters of web.events on
// events.dlq, starts a replay of them at 10/s under ctx, and returns once
// it has replayed a few; its outcome comes on first.
func startSlowReplay(t *testing.T, ctx context.Context, n int) (addr string, dlq Topic, first <-chan replayOutcome) {
	t.Helper()
	addr = streamstest.Broker(t, 2, "web.events", "events.dlq")
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, deadLetter(fmt.Sprintf("user-%d", i), fmt.Sprintf(`{"n":%d}`, i), "retries_exhausted", "HTTP 503", t0, "web.events", i%2, int64(i)))
	}
	streamstest.Produce(t, addr, "events.dlq", msgs...)
	dlq = Topic{Name: "events.dlq", Sink: "events", Brokers: []string{addr}}
	out := make(chan replayOutcome, 1)
	go func() {
		res, err := Replay(ctx, dlq, ReplayOptions{Rate: 10})
		out <- replayOutcome{res, err}
	}()
	streamstest.WaitFor(t, 30*time.Second, "the first replay under way", func() (bool, string) {
		var sum int64
		for _, end := range streamstest.EndOffsets(t, addr, "web.events") {
			sum += end
		}
		return sum >= 2, fmt.Sprint(sum)
	})
	return addr, dlq, out
}

// An empty dead-letter topic replays nothing and says so.
func TestReplayEmptyTopic(t *testing.T) {
	addr := streamstest.Broker(t, 2, "events.dlq")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Replay(ctx, Topic{Name: "events.dlq", Sink: "events", Brokers: []string{addr}}, ReplayOptions{})
	if err != nil || res.Planned != 0 || res.Replayed != 0 {
		t.Fatalf("empty topic: %+v %v", res, err)
	}
	var out bytes.Buffer
	res.Print(&out)
	if !strings.HasPrefix(out.String(), "events.dlq holds no dead letters\n") {
		t.Fatalf("summary:\n%s", out.String())
	}
}
