package ups

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/internal/results"
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
	// Status is COMPLETED, FAILED, or UNVERIFIED for a job with no word
	// that ends it by the job timeout (Errors says why); its records are
	// committed and not sent again.
	Status string `json:"status"`
	// StatusWord is the status service's own word for the job, the last
	// one read for an UNVERIFIED job (empty when none was).
	StatusWord string `json:"statusWord,omitempty"`
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

// NewKafkaResults publishes job outcomes to topic through p (the results
// publisher every API shares), each under its job id; produced (may be
// nil) counts what Kafka acknowledged.
func NewKafkaResults(p *streams.Producer, topic string, produced func(n int)) ResultPublisher {
	return results.New(p, topic, produced, func(r JobResult) []byte { return []byte(r.JobID) })
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
