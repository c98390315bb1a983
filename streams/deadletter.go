package streams

import (
	"context"
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
)

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
	add(HeaderDLQError, dl.Err.Error())
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
	if perr := d.p.Produce(ctx, msg); perr != nil {
		return perr
	}
	d.m.deadLettered.WithLabelValues(d.pipeline, reason).Inc()
	d.m.Produced(d.pipeline, "dead_letter", 1)
	return nil
}
