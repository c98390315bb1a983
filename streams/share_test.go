package streams_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// shareRecorder is a pipeline's OnShare hook and sink: it remembers the
// last share told, and whether a record ever reached the sink before any
// share was.
type shareRecorder struct {
	mu          sync.Mutex
	share       float64 // -1 none yet
	beforeShare int
	delivered   int
}

func (r *shareRecorder) onShare(s float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.share = s
}

func (r *shareRecorder) deliver(context.Context, *streams.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.share < 0 {
		r.beforeShare++
	}
	r.delivered++
	return nil
}

func (r *shareRecorder) get() (share float64, beforeShare, delivered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.share, r.beforeShare, r.delivered
}

// Two pipelines of one group are told their shares of its partitions, which
// sum to one, before any record of theirs reaches the sink; when one stops,
// the other's share grows to the whole.
func TestPipelinesShareTheirGroup(t *testing.T) {
	addr := streamstest.Broker(t, 6, "in", "dlq")
	start := func(name string) (*shareRecorder, context.CancelFunc, chan error) {
		rec := &shareRecorder{share: -1}
		p, err := streams.NewPipeline(streams.PipelineConfig{
			Name: name, Brokers: []string{addr}, GroupID: "shared", Topics: []string{"in"}, DeadLetterTopic: "dlq",
			SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
			CommitInterval: 20 * time.Millisecond, OnShare: rec.onShare,
		}, streams.PerRecord(rec.deliver))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; done <- nil })
		return rec, cancel, done
	}
	a, _, _ := start("a")
	b, stopB, doneB := start("b")
	produced := 0
	produce := func() {
		var msgs []kafka.Message
		for i := range 60 {
			msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(produced + i)), Value: []byte("v")})
		}
		produced += len(msgs)
		streamstest.Produce(t, addr, "in", msgs...)
	}
	streamstest.WaitFor(t, 30*time.Second, "both pipelines told shares summing to one", func() (bool, string) {
		produce()
		sa, _, da := a.get()
		sb, _, db := b.get()
		return sa > 0 && sb > 0 && sa+sb == 1 && da > 0 && db > 0, fmt.Sprintf("a %v (%d delivered), b %v (%d delivered)", sa, da, sb, db)
	})
	stopB()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	doneB <- nil
	streamstest.WaitFor(t, 30*time.Second, "the survivor's share to grow to one", func() (bool, string) {
		sa, _, _ := a.get()
		return sa == 1, fmt.Sprint(sa)
	})
	for name, r := range map[string]*shareRecorder{"a": a, "b": b} {
		if _, before, _ := r.get(); before > 0 {
			t.Fatalf("pipeline %s delivered %d records before it knew its share", name, before)
		}
	}
}
