package ups

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// JobResult is a job's outcome as the results topic carries it, keyed by
// job id; one per job, published when the job ends (and before its records
// are acknowledged, so a crash can repeat a result but never lose one).
type JobResult struct {
	JobID      string `json:"jobId"`
	Version    int64  `json:"version"`
	Pipeline   string `json:"pipeline"`
	Collection string `json:"collection"`
	// Records is how many records the job's request carried.
	Records int `json:"records"`
	// Status is COMPLETED or FAILED (a job followed past the job timeout
	// without an outcome is FAILED, with an error saying so).
	Status string `json:"status"`
	// Errors are the status service's error messages (at most 10).
	Errors []string `json:"errors,omitempty"`
	// Attempt is which attempt the job was for its records: 1 for a first
	// send, 2 when they are sent again after a FAILED job, and so on.
	Attempt    int       `json:"attempt"`
	AcceptedAt time.Time `json:"acceptedAt"`
	EndedAt    time.Time `json:"endedAt"`
}

// ResultPublisher publishes job outcomes.
type ResultPublisher interface {
	Publish(ctx context.Context, r JobResult) error
}

// KafkaResults publishes job outcomes to a topic.
type KafkaResults struct {
	p     *streams.Producer
	topic string
	// produced counts what Kafka acknowledged (the runtime's producer metric).
	produced func(n int)
}

// NewKafkaResults publishes to topic through p; produced may be nil.
func NewKafkaResults(p *streams.Producer, topic string, produced func(n int)) *KafkaResults {
	if produced == nil {
		produced = func(int) {}
	}
	return &KafkaResults{p: p, topic: topic, produced: produced}
}

// Publish writes r and returns once Kafka acknowledged it.
func (k *KafkaResults) Publish(ctx context.Context, r JobResult) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("ups: job %s: encode result: %w", r.JobID, err)
	}
	if err := k.p.Produce(ctx, kafka.Message{Topic: k.topic, Key: []byte(r.JobID), Value: v}); err != nil {
		return fmt.Errorf("ups: job %s: publish result to %s: %w", r.JobID, k.topic, err)
	}
	k.produced(1)
	return nil
}

// JobFailedError is why records are dead-lettered after their jobs FAILED
// MaxJobAttempts times: the last job and the status service's messages.
type JobFailedError struct {
	Collection string
	JobID      string
	Attempts   int
	Messages   []string
}

func (e *JobFailedError) Error() string {
	msg := fmt.Sprintf("ups: %s: job %s FAILED (attempt %d)", e.Collection, e.JobID, e.Attempts)
	if len(e.Messages) > 0 {
		msg += ": " + strings.Join(e.Messages, "; ")
	}
	return msg
}
