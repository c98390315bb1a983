package enablenow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// JobResult is one record of the results topic: what became of the job of one
// request. The Kafka key is the request's key, so the results of one subject
// land on one partition in the order they were published. Its JSON is pinned
// by testdata/job-result.golden.json.
type JobResult struct {
	// RequestKey is the Kafka key of the request record and of this one.
	RequestKey []byte `json:"-"`

	JobID string `json:"jobId"`
	// Status is the job's status as EnableNow reported it.
	Status string `json:"status"`
	// Terminal: Status is one a job ends with; it changes no more.
	Terminal bool `json:"terminal"`
	// Final: the connector publishes nothing more about this job, because it
	// ended, monitoring is off, or monitoring gave up (Error says why).
	Final bool `json:"final"`
	// Replayed: the creation was answered from a remembered idempotency key,
	// so an earlier attempt created the job (a retry or a redelivery).
	Replayed bool `json:"replayed,omitempty"`
	// IdempotencyKey is the key the job was created with.
	IdempotencyKey string `json:"idempotencyKey"`
	// Source locates the request record.
	Source Source `json:"source"`
	// At is when the connector saw this status.
	At time.Time `json:"at"`
	// Error says why monitoring gave up on the job; empty otherwise.
	Error string `json:"error,omitempty"`
}

// Source locates a request record.
type Source struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// ResultPublisher writes results and returns once they are durable (acked by
// Kafka), so a request is acknowledged only after its result is stored.
type ResultPublisher interface {
	Publish(ctx context.Context, results ...JobResult) error
}

// KafkaResults publishes results to a topic through a shared producer.
type KafkaResults struct {
	prod       *streams.Producer
	topic      string
	onProduced func(n int)
}

// NewKafkaResults publishes to topic through prod; onProduced (may be nil)
// counts what Kafka acknowledged.
func NewKafkaResults(prod *streams.Producer, topic string, onProduced func(n int)) *KafkaResults {
	return &KafkaResults{prod: prod, topic: topic, onProduced: onProduced}
}

// Publish implements ResultPublisher.
func (k *KafkaResults) Publish(ctx context.Context, results ...JobResult) error {
	msgs := make([]kafka.Message, len(results))
	for i, r := range results {
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("results %s: encode result of job %s: %w", k.topic, r.JobID, err)
		}
		msgs[i] = kafka.Message{Topic: k.topic, Key: r.RequestKey, Value: v}
	}
	if err := k.prod.Produce(ctx, msgs...); err != nil {
		return fmt.Errorf("results %s: %w", k.topic, err)
	}
	if k.onProduced != nil {
		k.onProduced(len(msgs))
	}
	return nil
}
