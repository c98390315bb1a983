package streams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams/delivery"
)

// Dead-letter headers, added to the original record's key, value and headers.
// Their names follow Kafka Connect's habit of a common prefix so that tools can
// strip or show them together.
const (
	HeaderDLQError     = "dlq.error"            // the error message
	HeaderDLQReason    = "dlq.reason"           // reason class: invalid, rejected, too_large, retries_exhausted, ...
	HeaderDLQStatus    = "dlq.http.status"      // HTTP status of the last attempt, when there was one
	HeaderDLQAttempts  = "dlq.attempts"         // delivery attempts made
	HeaderDLQTopic     = "dlq.source.topic"     // where the record was read
	HeaderDLQPartition = "dlq.source.partition" //
	HeaderDLQOffset    = "dlq.source.offset"    //
	HeaderDLQPipeline  = "dlq.pipeline"         // which pipeline gave up
	HeaderDLQTime      = "dlq.time"             // when, RFC 3339

	// A dead letter that would be larger than the broker takes is written
	// without the original value (and, if they are large, key and
	// headers); these say so and identify what was left out.
	HeaderDLQValueOmitted   = "dlq.value.omitted"   // why: "too_large"
	HeaderDLQValueSize      = "dlq.value.size"      // the original value's length in bytes
	HeaderDLQValueSHA256    = "dlq.value.sha256"    // hex SHA-256 of the original value
	HeaderDLQKeyOmitted     = "dlq.key.omitted"     // "too_large" when the key was left out too
	HeaderDLQHeadersOmitted = "dlq.headers.omitted" // how many original headers were left out
)

// maxErrorHeader bounds the dlq.error header: a long list of violations
// is cut, never the record's chance to be dead-lettered.
const maxErrorHeader = 8 << 10

// maxSlimKey is the longest key a slimmed dead letter keeps.
const maxSlimKey = 4 << 10

// DeadLetter is what the dead-letter topic learns about a failed record.
type DeadLetter struct {
	Pipeline string
	Reason   string
	Err      error
	Status   int
}

// deadLetterMessage builds the dead-letter record for rec.
func deadLetterMessage(topic string, rec *Record, dl DeadLetter, now time.Time) kafka.Message {
	hs := make([]kafka.Header, 0, len(rec.Headers)+9)
	for _, h := range rec.Headers {
		hs = append(hs, kafka.Header(h))
	}
	add := func(k, v string) { hs = append(hs, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderDLQError, truncate(dl.Err.Error(), maxErrorHeader))
	add(HeaderDLQReason, dl.Reason)
	if dl.Status != 0 {
		add(HeaderDLQStatus, strconv.Itoa(dl.Status))
	}
	add(HeaderDLQAttempts, strconv.Itoa(rec.Attempts))
	add(HeaderDLQTopic, rec.Topic)
	add(HeaderDLQPartition, strconv.Itoa(rec.Partition))
	add(HeaderDLQOffset, itoa(rec.Offset))
	add(HeaderDLQPipeline, dl.Pipeline)
	add(HeaderDLQTime, now.UTC().Format(time.RFC3339Nano))
	return kafka.Message{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: hs}
}

// slimDeadLetter is msg without what made it too large for the broker: the
// value always, the original headers and a long key too. What it keeps
// (the dlq.* headers, the source coordinates) is small, so it always fits.
func slimDeadLetter(msg kafka.Message, rec *Record) kafka.Message {
	sum := sha256.Sum256(rec.Value)
	hs := make([]kafka.Header, 0, 16)
	for _, h := range msg.Headers[len(rec.Headers):] { // the dlq.* headers only
		hs = append(hs, h)
	}
	add := func(k, v string) { hs = append(hs, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderDLQValueOmitted, "too_large")
	add(HeaderDLQValueSize, strconv.Itoa(len(rec.Value)))
	add(HeaderDLQValueSHA256, hex.EncodeToString(sum[:]))
	if len(rec.Headers) > 0 {
		add(HeaderDLQHeadersOmitted, strconv.Itoa(len(rec.Headers)))
	}
	key := msg.Key
	if len(key) > maxSlimKey {
		key = nil
		add(HeaderDLQKeyOmitted, "too_large")
	}
	return kafka.Message{Topic: msg.Topic, Key: key, Headers: hs}
}

// isTooLarge reports whether a produce failed because the broker refuses
// the message's size. kafka-go's WriteErrors does not unwrap, so its
// entries are looked at one by one.
func isTooLarge(err error) bool {
	if errors.Is(err, kafka.MessageSizeTooLarge) {
		return true
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && errors.Is(e, kafka.MessageSizeTooLarge) {
				return true
			}
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "… (cut)"
}

// DeadLetterWriter writes failed records to a dead-letter topic. Sinks that
// find bad records after delivery (a failed asynchronous job, say) use it
// directly; the pipeline runtime uses it for everything else.
type DeadLetterWriter struct {
	topic    string
	pipeline string
	p        *Producer
	m        *Metrics
}

// NewDeadLetterWriter writes to topic through p.
func NewDeadLetterWriter(p *Producer, topic, pipeline string, m *Metrics) *DeadLetterWriter {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &DeadLetterWriter{topic: topic, pipeline: pipeline, p: p, m: m}
}

// Write dead-letters rec with err's reason class and HTTP status. It returns
// after Kafka acknowledged the record.
func (d *DeadLetterWriter) Write(ctx context.Context, rec *Record, err error) error {
	reason := delivery.ReasonOf(err)
	msg := deadLetterMessage(d.topic, rec, DeadLetter{Pipeline: d.pipeline, Reason: reason, Err: err, Status: delivery.StatusOf(err)}, time.Now())
	perr := d.p.Produce(ctx, msg)
	if perr != nil && isTooLarge(perr) {
		// The record fitted the source topic, but not with the dead-letter
		// headers added: retrying would fail for ever and stall the
		// partition, so the value is left out and identified instead.
		perr = d.p.Produce(ctx, slimDeadLetter(msg, rec))
	}
	if perr != nil {
		return fmt.Errorf("dead-letter topic %s: %w", d.topic, perr)
	}
	d.m.deadLettered.WithLabelValues(d.pipeline, reason).Inc()
	d.m.Produced(d.pipeline, "dead_letter", 1)
	return nil
}
