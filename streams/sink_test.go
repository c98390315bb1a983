package streams_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// asyncSink holds every record it is given until the test releases it with
// an outcome, the way an API with asynchronous jobs answers later. Its
// background loop reports the released outcomes, so done is called after
// Write returned and from another goroutine.
type asyncSink struct {
	mu       sync.Mutex
	held     map[int64]*streams.Record
	dones    map[int64]streams.Done
	writes   map[int64]int
	release  chan release
	started  atomic.Bool
	drained  atomic.Int32
	closed   atomic.Int32
	bgExited atomic.Bool
	// failBG makes the background loop fail the pipeline.
	failBG chan error
}

type release struct {
	offset int64
	err    error
}

func newAsyncSink() *asyncSink {
	return &asyncSink{held: map[int64]*streams.Record{}, dones: map[int64]streams.Done{}, writes: map[int64]int{},
		release: make(chan release, 10000), failBG: make(chan error, 1)}
}

func (s *asyncSink) Start(ctx context.Context, bg *streams.Background) error {
	s.started.Store(true)
	bg.Go("releaser", func(ctx context.Context) error {
		defer s.bgExited.Store(true)
		for {
			select {
			case rel := <-s.release:
				s.mu.Lock()
				r, done := s.held[rel.offset], s.dones[rel.offset]
				delete(s.held, rel.offset)
				s.mu.Unlock()
				if r != nil {
					done(r, rel.err)
				}
			case err := <-s.failBG:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	return nil
}

func (s *asyncSink) Write(ctx context.Context, batch []*streams.Record, done streams.Done) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		s.held[r.Offset] = r
		s.dones[r.Offset] = done
		s.writes[r.Offset]++
	}
}

func (s *asyncSink) Drain()       { s.drained.Add(1) }
func (s *asyncSink) Close() error { s.closed.Add(1); return nil }

func (s *asyncSink) heldCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

func (s *asyncSink) writesOf(off int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[off]
}

func (s *asyncSink) answer(off int64, err error) { s.release <- release{off, err} }

func produceN(t *testing.T, addr, topic string, n int) {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte("v" + strconv.Itoa(i))}
	}
	streamstest.Produce(t, addr, topic, msgs...)
}

var startPipeline = streamstest.StartPipeline

func committed(t *testing.T, addr, group, topic string) int64 {
	return streamstest.Committed(t, addr, group, topic)[0]
}

// Outcomes that arrive after Write returned, in any order, commit only the
// contiguous finished prefix; the offset moves once the gap is filled.
func TestSinkOutcomesAfterWriteAndOutOfOrder(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 10)
	sink := newAsyncSink()
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "async", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", Concurrency: 2, CommitInterval: 10 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 10*time.Second, "all records handed to the sink", func() (bool, string) {
		n := sink.heldCount()
		return n == 10, fmt.Sprintf("%d held", n)
	})
	if !sink.started.Load() {
		t.Fatal("Write before Start")
	}
	// Finish everything but offset 0, newest first.
	for off := int64(9); off >= 1; off-- {
		sink.answer(off, nil)
	}
	streamstest.WaitFor(t, 10*time.Second, "nine outcomes taken", func() (bool, string) {
		c := p.Counts()
		return c.Delivered == 9, fmt.Sprintf("%+v", c)
	})
	// A negative claim needs a span of time: over ten commit intervals the
	// gap at 0 keeps the commit at 0.
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
		if got := committed(t, addr, "async", "in"); got > 0 {
			t.Fatalf("committed %d with offset 0 unfinished", got)
		}
	}
	sink.answer(0, nil)
	streamstest.WaitFor(t, 10*time.Second, "all committed once the gap is filled", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "async", "in")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if sink.drained.Load() != 1 || sink.closed.Load() != 1 || !sink.bgExited.Load() {
		t.Fatalf("lifecycle: drained %d closed %d background exited %v", sink.drained.Load(), sink.closed.Load(), sink.bgExited.Load())
	}
}

// Every kind of outcome, reported later: a rejection is dead-lettered, a
// retry comes back to Write after its delay without holding a worker,
// unauthorized pauses until a delivery succeeds.
func TestSinkOutcomeKinds(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 4)
	sink := newAsyncSink()
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "kinds", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", Concurrency: 1, CommitInterval: 10 * time.Millisecond,
		Retry: streams.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: 20 * time.Millisecond}}, sink)
	streamstest.WaitFor(t, 10*time.Second, "records handed over", func() (bool, string) {
		return sink.heldCount() == 4, ""
	})
	sink.answer(0, nil)
	sink.answer(1, streams.Reject("invalid", errors.New("bad field at .x")))
	sink.answer(2, streams.RetryAfter(50*time.Millisecond, errors.New("busy")))
	sink.answer(3, fmt.Errorf("token: %w", streams.ErrUnauthorized))
	streamstest.WaitFor(t, 10*time.Second, "paused", func() (bool, string) {
		ok, why := p.Ready()
		return !ok, why
	})
	streamstest.WaitFor(t, 10*time.Second, "retried and paused records written again", func() (bool, string) {
		return sink.writesOf(2) == 2 && sink.writesOf(3) == 2, fmt.Sprintf("writes %d %d", sink.writesOf(2), sink.writesOf(3))
	})
	sink.answer(2, nil)
	sink.answer(3, nil)
	streamstest.WaitFor(t, 10*time.Second, "caught up", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "kinds", "in")
	})
	if ok, why := p.Ready(); !ok {
		t.Fatalf("still not ready after a delivery: %s", why)
	}
	dl := streamstest.ReadAll(t, addr, "dlq")
	if len(dl) != 1 || string(dl[0].Value) != "v1" {
		t.Fatalf("dead letters %v", dl)
	}
	c := p.Counts()
	if c.Delivered != 3 || c.DeadLettered != 1 || c.Retries != 2 || c.InFlight != 0 {
		t.Fatalf("counts %+v", c)
	}
	cancel()
	<-done
}

// A retryable failure that lasts past the budget of real time is
// dead-lettered as retries_exhausted.
func TestSinkRetryBudgetIsRealTime(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 1)
	var calls atomic.Int32
	slow := streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		calls.Add(1)
		// The call itself takes time: the budget counts it.
		time.Sleep(30 * time.Millisecond)
		return errors.New("503")
	})
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "budget", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", CommitInterval: 10 * time.Millisecond,
		Retry: streams.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, MaxElapsed: 100 * time.Millisecond}}, slow)
	streamstest.WaitFor(t, 10*time.Second, "dead-lettered", func() (bool, string) {
		return p.Counts().DeadLettered == 1, ""
	})
	// Back-off alone is ~1 ms an attempt: counting only it would allow ~100
	// attempts; counting the calls allows about 100/30.
	if n := calls.Load(); n > 6 {
		t.Fatalf("%d attempts: the budget did not count the time spent in calls", n)
	}
	dl := streamstest.ReadAll(t, addr, "dlq")
	h := streamstest.Headers(dl[0])
	if h[streams.HeaderDLQReason] != "retries_exhausted" {
		t.Fatalf("reason %q", h[streams.HeaderDLQReason])
	}
	cancel()
	<-done
}

// A graceful stop takes the outcomes that arrive during the grace (after
// Drain) and commits them; what has none by the deadline stays uncommitted
// and is not lost.
func TestSinkGracefulStopTakesLateOutcomes(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 6)
	sink := newAsyncSink()
	_, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "grace", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", CommitInterval: time.Hour, ShutdownGrace: 2 * time.Second}, sink)
	streamstest.WaitFor(t, 10*time.Second, "records handed over", func() (bool, string) {
		return sink.heldCount() == 6, ""
	})
	cancel()
	streamstest.WaitFor(t, 5*time.Second, "drain began", func() (bool, string) {
		return sink.drained.Load() == 1, ""
	})
	for off := int64(0); off < 4; off++ {
		sink.answer(off, nil)
	}
	// 4 and 5 never get an outcome: the grace runs out.
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := committed(t, addr, "grace", "in"); got != 4 {
		t.Fatalf("committed %d after a graceful stop, want 4 (the finished prefix)", got)
	}
	if sink.closed.Load() != 1 || !sink.bgExited.Load() {
		t.Fatal("sink not closed after its background work ended")
	}
}

// A graceful stop while the fetcher waits to hand a record over (the
// workers are all busy and the queue to them is full) still delivers that
// record: the stop ends as soon as every fetched record is finished, not
// when the grace runs out, and commits them all. It once lost the record
// in that hand-over, so every graceful stop under load waited the whole
// shutdown_grace for a record nobody had.
func TestSinkGracefulStopDeliversTheRecordBeingHandedOver(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 1000)
	gate := make(chan struct{})
	sink := streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		<-gate
		return nil
	})
	const grace = time.Minute
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "handover", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", Concurrency: 1, CommitInterval: time.Hour, ShutdownGrace: grace}, sink)
	// One record in the worker, 256 queued to the workers, one in the
	// fetcher's hand: the fetcher waits.
	const fetched = 1 + 256 + 1
	streamstest.WaitFor(t, 20*time.Second, "the fetcher blocked on a full queue", func() (bool, string) {
		c := p.Counts()
		return c.Consumed == fetched, fmt.Sprint(c.Consumed)
	})
	cancel()
	close(gate)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(grace / 2):
		t.Fatalf("the graceful stop waits for the grace with every record delivered: %+v", p.Counts())
	}
	c := p.Counts()
	if c.Delivered != c.Consumed || c.InFlight != 0 {
		t.Fatalf("after a graceful stop: %+v, want every fetched record delivered", c)
	}
	if got := committed(t, addr, "handover", "in"); got != c.Consumed {
		t.Fatalf("committed %d, want %d (every fetched record)", got, c.Consumed)
	}
}

// A forced stop (abort) takes no outcome after it and commits nothing more.
func TestSinkAbortIgnoresLateOutcomes(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 3)
	sink := newAsyncSink()
	p, err := streams.NewPipeline(streams.PipelineConfig{Name: "abort", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", CommitInterval: time.Hour}, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunUntilAbort(ctx) }()
	streamstest.WaitFor(t, 10*time.Second, "records handed over", func() (bool, string) {
		return sink.heldCount() == 3, ""
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	r, d := sink.held[0], sink.dones[0]
	sink.mu.Unlock()
	d(r, nil) // after Close: ignored
	if c := p.Counts(); c.Delivered != 0 {
		t.Fatalf("an outcome after the forced stop was taken: %+v", c)
	}
	if got := committed(t, addr, "abort", "in"); got > 0 {
		t.Fatalf("committed %d on abort", got)
	}
}

// A background function that fails stops the pipeline with its error,
// naming the pipeline and the function.
func TestSinkBackgroundFailureStopsThePipeline(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	sink := newAsyncSink()
	_, _, done := startPipeline(t, streams.PipelineConfig{Name: "bgfail", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq"}, sink)
	streamstest.WaitFor(t, 10*time.Second, "started", func() (bool, string) { return sink.started.Load(), "" })
	boom := errors.New("boom")
	sink.failBG <- boom
	select {
	case err := <-done:
		if !errors.Is(err, boom) || !contains(err.Error(), "bgfail") || !contains(err.Error(), "releaser") {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pipeline still runs after its sink's background work failed")
	}
	if sink.closed.Load() != 1 {
		t.Fatal("sink not closed")
	}
}

// A record waiting for its retry holds no worker: with one worker, the
// records behind it are delivered meanwhile.
func TestSinkRetryHoldsNoWorker(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 50)
	var first atomic.Bool
	var delivered atomic.Int32
	var deliveredBeforeRetry atomic.Int32
	sink := streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		if r.Offset == 0 && first.CompareAndSwap(false, true) {
			return streams.RetryAfter(2*time.Second, errors.New("later"))
		}
		if r.Offset == 0 {
			deliveredBeforeRetry.Store(delivered.Load())
		}
		delivered.Add(1)
		return nil
	})
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "noworker", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", Concurrency: 1, CommitInterval: 10 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 15*time.Second, "all delivered", func() (bool, string) {
		return p.Counts().Delivered == 50, ""
	})
	if n := deliveredBeforeRetry.Load(); n != 49 {
		t.Fatalf("%d records delivered while offset 0 waited for its retry, want 49", n)
	}
	cancel()
	<-done
}

// With an adaptive limit (no fixed concurrency), rejections are still
// dead-lettered and every record finishes.
func TestAdaptivePipelineDeadLetters(t *testing.T) {
	addr := streamstest.Broker(t, 2, "in", "dlq")
	produceN(t, addr, "in", 200)
	sink := streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		if r.Offset%10 == 0 {
			return streams.Reject("invalid", errors.New("bad"))
		}
		return nil
	})
	cfg := streams.PipelineConfig{Name: "adaptive", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq", CommitInterval: 10 * time.Millisecond}
	cfg.AdaptiveConcurrency.Min, cfg.AdaptiveConcurrency.Max = 1, 64
	p, cancel, done := startPipeline(t, cfg, sink)
	streamstest.WaitFor(t, 20*time.Second, "caught up", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "adaptive", "in")
	})
	cancel()
	<-done
	if c := p.Counts(); c.Delivered+c.DeadLettered != 200 || c.DeadLettered == 0 {
		t.Fatalf("counts %+v", c)
	}
}

// A record the sink filters (ErrFiltered) is committed in order and counted
// as filtered: neither delivered nor dead-lettered, nor retried.
func TestSinkFilteredIsCommittedAndCounted(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 6)
	sink := streams.PerRecord(func(_ context.Context, r *streams.Record) error {
		if r.Offset%2 == 0 {
			return streams.ErrFiltered
		}
		return nil
	})
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "filter", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", Concurrency: 2, CommitInterval: 10 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 10*time.Second, "caught up", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "filter", "in")
	})
	c := p.Counts()
	if c.Filtered != 3 || c.Delivered != 3 || c.DeadLettered != 0 || c.Retries != 0 || c.InFlight != 0 {
		t.Fatalf("counts %+v", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A member that lost a partition in a rebalance must not commit its old
// position over the new owner's progress. Here another member of the
// group commits offset 80 after the rebalance its joining caused; the
// pipeline then finishes records 10..19, which it read before: its commit
// of 20 would move the group back to 20, and an idle new owner would never
// commit again (lag shown for records delivered, all repeated at the next
// rebalance). It is not sent.
func TestCommitNeverMovesTheGroupBack(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	produceN(t, addr, "in", 100)
	sink := newAsyncSink()
	reg := prometheus.NewRegistry()
	_, _, _ = startPipeline(t, streams.PipelineConfig{Name: "zombie", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		CommitInterval: 20 * time.Millisecond, SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		Metrics: streams.NewMetrics(reg)}, sink)
	streamstest.WaitFor(t, 10*time.Second, "every record held", func() (bool, string) { return sink.heldCount() == 100, "" })
	for off := int64(0); off < 10; off++ {
		sink.answer(off, nil)
	}
	streamstest.WaitFor(t, 10*time.Second, "10 committed", func() (bool, string) {
		c := committed(t, addr, "zombie", "in")
		return c == 10, fmt.Sprint(c)
	})

	// Another member joins (a rebalance) and commits 80 in the new
	// generation, as a new owner of the partition would.
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: "zombie", Brokers: []string{addr}, Topics: []string{"in"},
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cg.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gen, err := cg.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{"in": {0: 80}}); err != nil {
		t.Fatal(err)
	}

	for off := int64(10); off < 20; off++ {
		sink.answer(off, nil)
	}
	behind := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "connector_pipeline_offset_commits_total" {
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "result" && l.GetValue() == "behind" {
							return m.GetCounter().GetValue()
						}
					}
				}
			}
		}
		return 0
	}
	streamstest.WaitFor(t, 10*time.Second, "the commit of 20 found behind the group", func() (bool, string) {
		return behind() >= 1, fmt.Sprintf("committed %d", committed(t, addr, "zombie", "in"))
	})
	if c := committed(t, addr, "zombie", "in"); c != 80 {
		t.Fatalf("the group's offset is %d, want the new owner's 80", c)
	}
}

// sequentialSink is a streams.Sequential sink that notes every Write that
// began while another was running, and every record handed over below an
// offset of its partition it had already seen. Each Write yields the
// processor a few times, so that racing workers would interleave.
type sequentialSink struct {
	streams.NopLifecycle
	sequential bool
	running    atomic.Int32
	mu         sync.Mutex
	last       map[int]int64
	overlaps   int
	reordered  int
	records    int
}

func (s *sequentialSink) Sequential() bool { return s.sequential }

func (s *sequentialSink) Write(_ context.Context, batch []*streams.Record, done streams.Done) {
	if s.running.Add(1) > 1 {
		s.mu.Lock()
		s.overlaps++
		s.mu.Unlock()
	}
	for range 3 {
		runtime.Gosched()
	}
	s.mu.Lock()
	for _, r := range batch {
		if last, ok := s.last[r.Partition]; ok && r.Offset < last && r.Attempts == 1 {
			s.reordered++
		}
		s.last[r.Partition] = max(s.last[r.Partition], r.Offset)
		s.records++
	}
	s.mu.Unlock()
	s.running.Add(-1)
	for _, r := range batch {
		done(r, nil)
	}
}

func (s *sequentialSink) counts() (records, overlaps, reordered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records, s.overlaps, s.reordered
}

// The Writes of a Sequential sink never overlap and hand each partition's
// records over in offset order, at any concurrency and batch size; those of
// any other sink run at once on the runtime's workers (which is what lets
// them reorder).
func TestSequentialSinkWritesOneAtATimeInFetchOrder(t *testing.T) {
	const n = 3000
	for _, tc := range []struct {
		name       string
		sequential bool
		batch      int
	}{
		{"sequential, batches", true, 7},
		{"sequential, one record per write", true, 1},
		{"concurrent", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := streamstest.Broker(t, 3, "in", "dlq")
			produceN(t, addr, "in", n)
			sink := &sequentialSink{sequential: tc.sequential, last: map[int]int64{}}
			group := fmt.Sprintf("seq-%v-%d", tc.sequential, tc.batch)
			_, cancel, done := startPipeline(t, streams.PipelineConfig{Name: group, Brokers: []string{addr}, Topics: []string{"in"},
				DeadLetterTopic: "dlq", Concurrency: 16, BatchMaxRecords: tc.batch, BatchLinger: time.Millisecond,
				CommitInterval: 10 * time.Millisecond}, sink)
			streamstest.WaitFor(t, 30*time.Second, "every record written", func() (bool, string) {
				records, _, _ := sink.counts()
				return records >= n, fmt.Sprintf("%d of %d", records, n)
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			_, overlaps, reordered := sink.counts()
			if tc.sequential && (overlaps != 0 || reordered != 0) {
				t.Fatalf("%d Writes overlapped another, %d records came below an offset already seen", overlaps, reordered)
			}
			// Without Sequential, about 60% of the records here reach the
			// sink below an offset it has already seen.
			if !tc.sequential && overlaps == 0 {
				t.Fatalf("no Write of a concurrent sink overlapped another: the test shows nothing")
			}
		})
	}
}
