package enablenow

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// CategorizationSink creates one EnableNow categorization job per request
// record and publishes the job's id and status to the results topic. A
// record is delivered once its result is stored; with a monitor, the job is
// then followed until it ends.
//
// Per record it says, for the runtime to act on:
//   - rejected "invalid", before any call, when the request breaks a rule of
//     the reference (the error names each broken rule);
//   - rejected, unauthorized or retryable as package httpapi classifies the
//     API's answer;
//   - retryable when the result cannot be published: the retry's creation is
//     answered from the idempotency key, so no second job is made.
//
// It implements streams.Sink: Start runs the monitor (when there is one)
// through the runtime's Background, Write makes one call per record on the
// runtime's worker, and the monitor is the sink's one Part.
type CategorizationSink struct {
	client  *Client
	results ResultPublisher
	monitor *JobMonitor // nil: monitoring is off
	log     *slog.Logger
	m       *Metrics
}

// NewCategorizationSink builds the sink; monitor may be nil to publish the
// creation result only. m may be nil.
func NewCategorizationSink(client *Client, results ResultPublisher, monitor *JobMonitor, log *slog.Logger, m *Metrics) *CategorizationSink {
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &CategorizationSink{client: client, results: results, monitor: monitor, log: log, m: m}
}

// Start implements streams.Sink: it starts the monitor, which runs until
// the runtime's forced stop.
func (s *CategorizationSink) Start(_ context.Context, bg *streams.Background) error {
	if s.monitor != nil {
		bg.Go(s.monitor.Name(), s.monitor.run)
	}
	return nil
}

// Write implements streams.Sink. There is no bulk endpoint, so a batch is
// one call per record, on the runtime's worker; concurrency comes from the
// runtime's workers. A record whose job is to be followed waits for a place
// in the monitor before its job is created: that wait is the back-pressure
// of the monitor's cap, and the monitor frees places on its own.
func (s *CategorizationSink) Write(ctx context.Context, batch []*streams.Record, done streams.Done) {
	for _, r := range batch {
		done(r, s.deliver(ctx, r))
	}
}

// Drain implements streams.Sink: the sink holds nothing between Writes.
// The monitor goes on until the forced stop, publishing what it sees.
func (s *CategorizationSink) Drain() {}

// Close implements streams.Sink; the monitor stopped with the runtime's
// Background.
func (s *CategorizationSink) Close() error { return nil }

// Parts implements the runtime's parts: the monitor, shown on /readyz
// beside the pipeline.
func (s *CategorizationSink) Parts() []streams.Part {
	if s.monitor == nil {
		return nil
	}
	return []streams.Part{s.monitor}
}

func (s *CategorizationSink) deliver(ctx context.Context, r *streams.Record) error {
	req, err := schemas.DecodeCategorizationRequest(r.Value)
	if err != nil {
		return streams.Reject("invalid", err)
	}
	key := RecordIdempotencyKey(r)
	// The place is taken before the job exists, so the cap bounds the jobs
	// followed, not just the ones already handed over.
	if s.monitor != nil {
		if err := s.monitor.reserve(ctx); err != nil {
			return fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
	}
	followed := false
	defer func() {
		if s.monitor != nil && !followed {
			s.monitor.release()
		}
	}()

	job, err := s.client.CreateJob(ctx, req, key)
	if err != nil {
		return fmt.Errorf("%s/%d@%d: create job: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if job.Replayed {
		s.m.created.WithLabelValues("replayed").Inc()
		s.log.Debug("job creation replayed: an earlier attempt had created it", "job", job.ID, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
	} else {
		s.m.created.WithLabelValues("created").Inc()
	}
	res := JobResult{
		RequestKey:     r.Key,
		JobID:          job.ID,
		Status:         job.Status,
		Terminal:       job.Terminal,
		Final:          job.Terminal || s.monitor == nil,
		Replayed:       job.Replayed,
		IdempotencyKey: key,
		Source:         Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		At:             time.Now().UTC(),
	}
	if err := s.results.Publish(ctx, res); err != nil {
		return fmt.Errorf("%s/%d@%d: job %s created; publish its result: %w", r.Topic, r.Partition, r.Offset, job.ID, err)
	}
	if !res.Final {
		s.monitor.follow(res)
		followed = true
	}
	return nil
}

var _ streams.Sink = (*CategorizationSink)(nil)
