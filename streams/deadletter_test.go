package streams_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/embedded"
	"github.com/contactlab/connector/streams/streamstest"
)

// rejectBig rejects values over 100 kB with a long error, as a schema
// check listing many violations would, and delivers the rest.
func rejectBig(delivered *int64) streams.Sink {
	return streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		if len(r.Value) > 100_000 {
			return streams.Reject("invalid", errors.New(strings.Repeat("$.a: too long; ", 2000)))
		}
		*delivered++
		return nil
	})
}

// A record the broker accepted at about its size limit cannot be
// dead-lettered as it is (the dead-letter headers make it larger): it is
// written without its value, identified by size and SHA-256, and the
// partition moves on.
func TestDeadLetterTooLargeIsWrittenWithoutItsValue(t *testing.T) {
	addr := streamstest.Broker(t, 1, "in", "dlq")
	big := []byte(strings.Repeat("x", 1_045_000)) // the broker takes up to 1,048,588 bytes a batch
	msgs := []kafka.Message{{Key: []byte("k"), Value: big, Headers: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}}
	for i := range 20 {
		msgs = append(msgs, kafka.Message{Value: []byte("ok-" + strconv.Itoa(i))})
	}
	streamstest.Produce(t, addr, "in", msgs[:1]...)
	streamstest.Produce(t, addr, "in", msgs[1:]...)
	var delivered int64
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "big", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "dlq", Concurrency: 1, CommitInterval: 10 * time.Millisecond}, rejectBig(&delivered))
	streamstest.WaitFor(t, 20*time.Second, "caught up past the large record", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "big", "in")
	})
	cancel()
	<-done
	if c := p.Counts(); c.Delivered != 20 || c.DeadLettered != 1 {
		t.Fatalf("counts %+v", c)
	}
	dl := streamstest.ReadAll(t, addr, "dlq")
	if len(dl) != 1 {
		t.Fatalf("%d dead letters", len(dl))
	}
	h := streamstest.Headers(dl[0])
	sum := sha256.Sum256(big)
	if len(dl[0].Value) != 0 || h[streams.HeaderDLQValueOmitted] != "too_large" || h[streams.HeaderDLQValueSize] != "1045000" ||
		h[streams.HeaderDLQValueSHA256] != hex.EncodeToString(sum[:]) || h[streams.HeaderDLQOffset] != "0" ||
		h[streams.HeaderDLQTopic] != "in" || h[streams.HeaderDLQReason] != "invalid" || string(dl[0].Key) != "k" {
		t.Fatalf("slim dead letter: value %d bytes, key %q, headers %v", len(dl[0].Value), dl[0].Key, trimmed(h))
	}
	if len(h[streams.HeaderDLQError]) > 9<<10 {
		t.Fatalf("dlq.error of %d bytes is not bounded", len(h[streams.HeaderDLQError]))
	}
}

func trimmed(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if len(v) > 80 {
			v = v[:80] + "…"
		}
		out[k] = v
	}
	return out
}

// A dead-letter topic that cannot be written (it does not exist and the
// broker creates none) makes the pipeline not ready, naming that topic;
// once the topic exists the record is dead-lettered and readiness returns.
func TestDeadLetterPersistentFailureIsNotReady(t *testing.T) {
	b, err := embedded.Start(embedded.Config{Partitions: 1, Topics: []string{"in"}, NoAutoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	addr := b.Addr()
	streamstest.Produce(t, addr, "in", kafka.Message{Value: []byte("bad")}, kafka.Message{Value: []byte("good")})
	sink := streams.PerRecord(func(ctx context.Context, r *streams.Record) error {
		if string(r.Value) == "bad" {
			return streams.Reject("invalid", errors.New("bad value"))
		}
		return nil
	})
	p, cancel, done := startPipeline(t, streams.PipelineConfig{Name: "nodlq", Brokers: []string{addr}, Topics: []string{"in"},
		DeadLetterTopic: "missing.dlq", CommitInterval: 10 * time.Millisecond}, sink)
	streamstest.WaitFor(t, 30*time.Second, "not ready naming the dead-letter topic", func() (bool, string) {
		ok, why := p.Ready()
		return !ok && strings.Contains(why, "missing.dlq"), why
	})
	if got := committed(t, addr, "nodlq", "in"); got > 0 {
		t.Fatalf("committed %d past a record that is not dead-lettered", got)
	}
	if err := streams.EnsureTopics(context.Background(), []string{addr}, streams.TopicSpec{Name: "missing.dlq", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	streamstest.WaitFor(t, 30*time.Second, "caught up and ready once the topic exists", func() (bool, string) {
		ok, why := p.Ready()
		up, state := streamstest.CaughtUp(t, addr, "nodlq", "in")
		return ok && up, why + " / " + state
	})
	cancel()
	<-done
}
