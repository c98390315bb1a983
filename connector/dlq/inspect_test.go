package dlq

import (
	"bytes"
	"context"
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// deadLetter builds a dead letter as streams.DeadLetterWriter writes it,
// at a fixed time so that the output is stable.
func deadLetter(key, value, reason, errMsg string, at time.Time, src string, srcPart int, srcOff int64, extra ...kafka.Header) kafka.Message {
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	hs := append([]kafka.Header{h("trace-id", "t-"+key)}, extra...)
	hs = append(hs,
		h(streams.HeaderDLQError, errMsg), h(streams.HeaderDLQReason, reason), h(streams.HeaderDLQAttempts, "1"),
		h(streams.HeaderDLQTopic, src), h(streams.HeaderDLQPartition, strconv.Itoa(srcPart)), h(streams.HeaderDLQOffset, strconv.FormatInt(srcOff, 10)),
		h(streams.HeaderDLQPipeline, "events"), h(streams.HeaderDLQTime, at.UTC().Format(time.RFC3339Nano)))
	var v []byte
	if value != "" {
		v = []byte(value)
	}
	return kafka.Message{Key: []byte(key), Value: v, Headers: hs}
}

// slim is m as written when it was too large for the broker: no value.
func slim(m kafka.Message, size int) kafka.Message {
	m.Value = nil
	m.Headers = append(m.Headers[1:], // the original headers are left out too
		kafka.Header{Key: streams.HeaderDLQValueOmitted, Value: []byte("too_large")},
		kafka.Header{Key: streams.HeaderDLQValueSize, Value: []byte(strconv.Itoa(size))})
	return m
}

// mixedDeadLetters are eleven dead letters of three reasons over two
// hours: an API outage, invalid events and one too large.
func mixedDeadLetters() []kafka.Message {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var msgs []kafka.Message
	for i := range 6 {
		msgs = append(msgs, deadLetter("user-"+strconv.Itoa(i), `{"type":"viewedProduct","n":`+strconv.Itoa(i)+`}`, "retries_exhausted",
			"gave up after "+strconv.Itoa(5+i)+" attempts over 1m"+strconv.Itoa(i)+".5s: contacthub: POST /workspaces/{workspaceId}/events: HTTP 503: service unavailable",
			t0.Add(time.Duration(50+i*3)*time.Minute), "web.events", i%4, int64(100+i)))
	}
	for i := range 4 {
		msgs = append(msgs, deadLetter("bad-"+strconv.Itoa(i), `{"properties":{"items":[{},{}]},"padding":"`+strings.Repeat("x", 200)+`"}`, "invalid",
			"event: $.properties.items["+strconv.Itoa(i)+"].sku: is required; $.type: is required",
			t0.Add(time.Duration(5+i)*time.Minute), "web.events", 0, int64(10+i)))
	}
	msgs = append(msgs, slim(deadLetter("huge", "", "too_large", "contacthub: POST /workspaces/{workspaceId}/events: HTTP 413: body exceeds 65536 bytes",
		t0.Add(30*time.Minute), "web.events", 1, 55), 2_000_000))
	return msgs
}

func TestInspect(t *testing.T) {
	addr := streamstest.Broker(t, 2, "events.dlq", "other.dlq")
	streamstest.Produce(t, addr, "events.dlq", mixedDeadLetters()...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Inspect(ctx, Topic{Name: "events.dlq", Sink: "events", Brokers: []string{addr}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if s.Total != 11 || s.ByReason["retries_exhausted"] != 6 || s.ByReason["invalid"] != 4 || s.ByReason["too_large"] != 1 || s.ValueOmitted != 1 {
		t.Fatalf("counts: total %d by reason %v omitted %d", s.Total, s.ByReason, s.ValueOmitted)
	}
	// Six messages of one cause make one class, however their numbers differ.
	if n := s.ByError["gave up after N attempts over <duration>: contacthub: POST /workspaces/{workspaceId}/events: HTTP 503: service unavailable"]; n != 6 || len(s.ByError) != 3 {
		t.Fatalf("by error: %v", s.ByError)
	}
	if len(s.Samples) != 5 {
		t.Fatalf("%d samples, want 5", len(s.Samples))
	}
	var out bytes.Buffer
	s.Print(&out, "")
	testkit.Golden(t, "testdata/inspect.golden", out.Bytes(), *update)
	out.Reset()
	s.Print(&out, "day")
	if !strings.Contains(out.String(), "by day (dlq.time, UTC)\n  2026-11-23            11\n") {
		t.Errorf("per day:\n%s", out.String())
	}

	// Inspect joins no group and commits nothing; an empty topic is said so.
	empty, err := Inspect(ctx, Topic{Name: "other.dlq", Brokers: []string{addr}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	empty.Print(&out, "")
	if out.String() != "other.dlq: 0 dead letters in 2 partitions\n" {
		t.Errorf("empty topic printed as %q", out.String())
	}
}
