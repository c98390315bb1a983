package enablenow

import (
	"context"
	"time"

	"github.com/contactlab/connector/connector/internal/results"
	"github.com/contactlab/connector/streams"
)

// JobResult is one record of the results topic: what became of the job of one
// request. The Kafka key is the request's key, so the results of one subject
// land on one partition in the order they were published. Its JSON is pinned
// by testdata/job-result.golden.json.
type JobResult struct {
	// RequestKey is the Kafka key of the request record and of this one.
	RequestKey []byte `json:"-"`

	// JobID is empty when the creation answer named no job (Outcome
	// created).
	JobID string `json:"jobId"`
	// Status is the job's status as EnableNow reported it; "created" when
	// a creation answer named neither a job nor a status.
	Status string `json:"status"`
	// Outcome is "completed" or "failed" once the job ended with a status
	// of enablenow.completed_statuses or failed_statuses, "created" when
	// the creation answer named no job to follow, empty otherwise.
	Outcome string `json:"outcome,omitempty"`
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

// ResultPublisher writes a result and returns once it is durable (acked by
// Kafka), so a request is acknowledged only after its result is stored.
type ResultPublisher interface {
	Publish(ctx context.Context, r JobResult) error
}

// NewKafkaResults publishes results to topic through a shared producer,
// each under its request's key; onProduced (may be nil) counts what Kafka
// acknowledged.
func NewKafkaResults(prod *streams.Producer, topic string, onProduced func(n int)) ResultPublisher {
	return results.New(prod, topic, onProduced, func(r JobResult) []byte { return r.RequestKey })
}
