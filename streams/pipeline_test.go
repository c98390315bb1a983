package streams_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// flakySink fails a share of attempts with a retryable error, rejects values
// starting with "bad", returns ErrUnauthorized while unauthorized is set, and
// remembers what it delivered.
type flakySink struct {
	failShare    float64
	unauthorized atomic.Bool
	mu           sync.Mutex
	delivered    map[string]int
	batchSizes   []int
}

func (s *flakySink) Write(ctx context.Context, batch []*streams.Record) error {
	if s.unauthorized.Load() {
		return fmt.Errorf("sink: %w", streams.ErrUnauthorized)
	}
	errs := make([]error, len(batch))
	failed := false
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchSizes = append(s.batchSizes, len(batch))
	for i, r := range batch {
		switch {
		case len(r.Value) >= 3 && string(r.Value[:3]) == "bad":
			errs[i] = streams.Reject("invalid", errors.New("value is bad"))
			failed = true
		case rand.Float64() < s.failShare:
			errs[i] = streams.RetryAfter(time.Millisecond, errors.New("flaky"))
			failed = true
		default:
			s.delivered[string(r.Value)]++
		}
	}
	if failed {
		return &streams.BatchError{Errs: errs}
	}
	return nil
}

func (s *flakySink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

func TestPipelineDeliversRetriesDeadLettersAndCommits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
	}{
		{"single records", 1},
		{"batches of 50", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := streamstest.Broker(t, 4, "in", "dlq")
			const n, bad = 3000, 30
			var msgs []kafka.Message
			for i := range n {
				v := "good-" + strconv.Itoa(i)
				if i%(n/bad) == 0 {
					v = "bad-" + strconv.Itoa(i)
				}
				msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i % 97)), Value: []byte(v), Headers: []kafka.Header{{Key: "trace", Value: []byte("t" + strconv.Itoa(i))}}})
			}
			streamstest.Produce(t, addr, "in", msgs...)

			sink := &flakySink{failShare: 0.1, delivered: map[string]int{}}
			p, cancel, done := startPipeline(t, streams.PipelineConfig{
				Name: "test", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
				Concurrency: 8, MaxInFlight: 500, BatchMaxRecords: tc.batch, BatchLinger: 2 * time.Millisecond,
				Retry:          streams.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond},
				CommitInterval: 20 * time.Millisecond,
			}, streams.Blocking(sink))
			streamstest.WaitFor(t, 30*time.Second, "all offsets committed", func() (bool, string) {
				return streamstest.CaughtUp(t, addr, "test", "in")
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("graceful stop returned %v", err)
			}
			if got := sink.count(); got != n-bad {
				t.Fatalf("delivered %d distinct records, want %d", got, n-bad)
			}
			dl := streamstest.ReadAll(t, addr, "dlq")
			if len(dl) != bad {
				t.Fatalf("dead-lettered %d, want %d", len(dl), bad)
			}
			for _, m := range dl {
				h := streamstest.Headers(m)
				if h[streams.HeaderDLQReason] != "invalid" || h[streams.HeaderDLQError] != "value is bad" ||
					h[streams.HeaderDLQTopic] != "in" || h[streams.HeaderDLQOffset] == "" || h[streams.HeaderDLQPipeline] != "test" ||
					h["trace"] == "" || string(m.Value[:3]) != "bad" || h[streams.HeaderDLQAttempts] != "1" {
					t.Fatalf("dead letter lacks its context: value %q headers %v", m.Value, h)
				}
			}
			c := p.Counts()
			if c.Consumed != n || c.Delivered != n-bad || c.DeadLettered != bad || c.InFlight != 0 {
				t.Fatalf("counts %+v", c)
			}
			largest := 0
			for _, b := range sink.batchSizes {
				if b > tc.batch {
					t.Fatalf("batch of %d records, limit %d", b, tc.batch)
				}
				largest = max(largest, b)
			}
			if tc.batch > 1 && largest < 2 {
				t.Fatalf("batching never grouped records (largest batch %d)", largest)
			}
		})
	}
}

// A credential failure pauses the pipeline (not ready, nothing committed or
// dead-lettered) until the credential works again.
func TestPipelinePausesOnUnauthorized(t *testing.T) {
	addr := streamstest.Broker(t, 2, "in", "dlq")
	var msgs []kafka.Message
	for i := range 200 {
		msgs = append(msgs, kafka.Message{Value: []byte("good-" + strconv.Itoa(i))})
	}
	streamstest.Produce(t, addr, "in", msgs...)
	sink := &flakySink{delivered: map[string]int{}}
	sink.unauthorized.Store(true)
	p, cancel, done := startPipeline(t, streams.PipelineConfig{
		Name: "pause", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq",
		Retry:          streams.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: time.Millisecond},
		CommitInterval: 10 * time.Millisecond,
	}, streams.Blocking(sink))
	streamstest.WaitFor(t, 10*time.Second, "pipeline paused", func() (bool, string) {
		ok, why := p.Ready()
		return !ok && why != "not running", why
	})
	if _, why := p.Ready(); why == "" || !contains(why, "unauthorized") {
		t.Fatalf("readiness reason %q does not say why", why)
	}
	for _, off := range streamstest.Committed(t, addr, "pause", "in") {
		if off > 0 {
			t.Fatalf("committed %d while paused", off)
		}
	}
	sink.unauthorized.Store(false)
	streamstest.WaitFor(t, 20*time.Second, "caught up after the credential works", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "pause", "in")
	})
	if ok, why := p.Ready(); !ok {
		t.Fatalf("still not ready: %s", why)
	}
	if c := p.Counts(); c.DeadLettered != 0 || c.Delivered != 200 {
		t.Fatalf("counts %+v: a paused record must be neither dead-lettered nor lost", c)
	}
	cancel()
	<-done
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A 401 to a call sent before the pipeline resumed says nothing of the
// credential now: it neither pauses the pipeline again nor loses its
// record, which is retried. (Under load, calls in flight at a resume
// paused the pipeline a second time at once.)
func TestStaleUnauthorizedAnswerDoesNotPauseAgain(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	var pauses atomic.Int64
	logs := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) {
		if strings.Contains(string(b), "pipeline paused") {
			pauses.Add(1)
		}
	}), nil))
	slowSent, releaseSlow := make(chan struct{}), make(chan struct{})
	var delivered sync.Map
	p, cancel, done := startPipeline(t, streams.PipelineConfig{
		Name: "stale401", Brokers: []string{addr}, Topics: []string{"in"}, DeadLetterTopic: "dlq", Logger: logs,
		Concurrency: 4, CommitInterval: 10 * time.Millisecond,
		Retry: streams.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond},
	}, streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		switch v := string(r.Value); {
		case v == "slow" && r.Attempts == 1:
			close(slowSent)
			<-releaseSlow // answered 401 after the resume below
			return fmt.Errorf("sink: %w", streams.ErrUnauthorized)
		case v == "refused" && r.Attempts == 1:
			return fmt.Errorf("sink: %w", streams.ErrUnauthorized)
		}
		delivered.Store(string(r.Value), true)
		return nil
	}))
	streamstest.Produce(t, addr, "in", kafka.Message{Value: []byte("slow")})
	<-slowSent
	streamstest.Produce(t, addr, "in", kafka.Message{Value: []byte("refused")})
	streamstest.WaitFor(t, 10*time.Second, "paused by the 401 to refused", func() (bool, string) {
		return pauses.Load() == 1, fmt.Sprint(pauses.Load(), " pauses")
	})
	streamstest.WaitFor(t, 10*time.Second, "resumed by refused's retry", func() (bool, string) {
		_, ok := delivered.Load("refused")
		ready, why := p.Ready()
		return ok && ready, why
	})
	close(releaseSlow)
	streamstest.WaitFor(t, 10*time.Second, "slow retried and delivered", func() (bool, string) {
		_, ok := delivered.Load("slow")
		return ok, ""
	})
	if n := pauses.Load(); n != 1 {
		t.Fatalf("paused %d times; the 401 to a call sent before the resume paused it again", n)
	}
	if ok, why := p.Ready(); !ok {
		t.Fatalf("not ready after the stale 401: %s", why)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// writerFunc is an io.Writer calling f with each write.
type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// An idle pipeline's committer sleeps until a record finishes: records
// that come after it has idled, once and again, are committed.
func TestIdlePipelineCommitsWhatComesLater(t *testing.T) {
	addr := streamstest.Broker(t, 4, "in", "dlq")
	var delivered atomic.Int64
	p, err := streams.NewPipeline(streams.PipelineConfig{
		Name: "idle", Brokers: []string{addr}, GroupID: "idle", Topics: []string{"in"}, DeadLetterTopic: "dlq",
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, CommitInterval: 20 * time.Millisecond,
	}, streams.PerRecord(func(context.Context, *streams.Record) error { delivered.Add(1); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	streamstest.WaitFor(t, 10*time.Second, "the pipeline ready", func() (bool, string) { return p.Ready() })
	for round := 1; round <= 2; round++ {
		var msgs []kafka.Message
		for i := range 20 {
			msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte("v")})
		}
		streamstest.Produce(t, addr, "in", msgs...)
		streamstest.WaitFor(t, 10*time.Second, fmt.Sprintf("round %d committed", round), func() (bool, string) {
			if ok, why := streamstest.CaughtUp(t, addr, "idle", "in"); !ok {
				return false, fmt.Sprintf("%s (%d delivered)", why, delivered.Load())
			}
			return true, ""
		})
	}
}
