package enablenow

import (
	"context"
	"errors"
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
//     API's answer, but for a 403 whose credential works for a cheap read
//     (Client): rejected, as the record's own refusal, so that the records
//     after it go on instead of the whole pipeline pausing;
//   - retryable when the result cannot be published: the retry publishes
//     the job the creation answered, without a second POST;
//   - rejected "idempotency_window" when a retry would POST the request
//     again after the API may have forgotten its idempotency key.
//
// After any 2xx the request is never POSTed again by this process. An
// answer that names no job is published as OutcomeCreated with no id, and
// the record delivered: there is nothing to follow.
//
// It implements streams.Sink: Start runs the monitor (when there is one)
// through the runtime's Background, Write makes one call per record on the
// runtime's worker, and the monitor is the sink's one Part.
type CategorizationSink struct {
	client   *Client
	results  ResultPublisher
	monitor  *JobMonitor // nil: monitoring is off
	log      *slog.Logger
	m        *Metrics
	attempts *attempts
}

// SinkOption changes a default of NewCategorizationSink.
type SinkOption func(*CategorizationSink)

// DefaultIdempotencyWindow is how long the API is taken to remember an
// Idempotency-Key when no IdempotencyWindow option says otherwise.
const DefaultIdempotencyWindow = 24 * time.Hour

// IdempotencyWindow is how long the API remembers an Idempotency-Key, and
// requestTimeout the longest one creation may take to reach it: no record
// is POSTed again once window (less that margin) has passed since its first
// attempt began, paused time included.
func IdempotencyWindow(window, requestTimeout time.Duration) SinkOption {
	return func(s *CategorizationSink) { s.attempts = newAttempts(window, requestTimeout) }
}

// NewCategorizationSink builds the sink; monitor may be nil to publish the
// creation result only. log and m may be nil.
func NewCategorizationSink(client *Client, results ResultPublisher, monitor *JobMonitor, log *slog.Logger, m *Metrics, opts ...SinkOption) *CategorizationSink {
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	s := &CategorizationSink{client: client, results: results, monitor: monitor, log: log, m: m,
		attempts: newAttempts(DefaultIdempotencyWindow, 0)}
	for _, o := range opts {
		o(s)
	}
	return s
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

// ErrIdempotencyWindow is wrapped by the rejection of a record that would
// be POSTed again after the API may have forgotten its idempotency key.
var ErrIdempotencyWindow = errors.New("the API may have forgotten the idempotency key: POSTing again could create a second job")

func (s *CategorizationSink) deliver(ctx context.Context, r *streams.Record) error {
	req, err := schemas.DecodeCategorizationRequest(r.Value)
	if err != nil {
		return streams.Reject("invalid", err)
	}
	where := fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)
	key := RecordIdempotencyKey(r)
	at, ok := s.attempts.begin(key, r.Attempts)
	if !ok {
		return streams.Reject("idempotency_window", fmt.Errorf("%s: attempt %d: %w", where, r.Attempts, ErrIdempotencyWindow))
	}
	res, answered := s.attempts.answered(at)
	// The place is taken before the job exists, so the cap bounds the jobs
	// followed, not just the ones already handed over.
	followed := false
	if s.monitor != nil && (!answered || !res.Final) {
		if err := s.monitor.reserve(ctx); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		defer func() {
			if !followed {
				s.monitor.release()
			}
		}()
	}
	if !answered {
		if !s.attempts.mayPost(at) {
			s.attempts.done(at)
			return streams.Reject("idempotency_window", fmt.Errorf("%s: attempt %d, first %s ago: %w", where, r.Attempts, time.Since(at.first).Round(time.Millisecond), ErrIdempotencyWindow))
		}
		job, err := s.client.CreateJob(ctx, req, key)
		if err != nil {
			if errors.Is(err, streams.ErrRejected) {
				// Final: the record is dead-lettered, never tried again.
				s.attempts.done(at)
			}
			return fmt.Errorf("%s: create job: %w", where, err)
		}
		res = s.created(r, key, job)
		s.attempts.remember(at, res)
	}
	if err := s.results.Publish(ctx, res); err != nil {
		return fmt.Errorf("%s: job %s created; publish its result: %w", where, res.JobID, err)
	}
	s.attempts.done(at)
	if !res.Final {
		s.monitor.follow(res)
		followed = true
	}
	return nil
}

// created is the result of a creation the API answered with job.
func (s *CategorizationSink) created(r *streams.Record, key string, job Job) JobResult {
	switch {
	case job.ID == "":
		s.m.created.WithLabelValues("unnamed").Inc()
		s.log.Info("job creation answered without a job id; published as created", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
	case job.Replayed:
		s.m.created.WithLabelValues("replayed").Inc()
		s.log.Debug("job creation replayed: an earlier attempt had created it", "job", job.ID, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
	default:
		s.m.created.WithLabelValues("created").Inc()
	}
	status := job.Status
	if job.ID == "" && status == "" {
		status = OutcomeCreated
	}
	return JobResult{
		RequestKey:     r.Key,
		JobID:          job.ID,
		Status:         status,
		Outcome:        job.Outcome,
		Terminal:       job.Terminal,
		Final:          job.Terminal || job.ID == "" || s.monitor == nil,
		Replayed:       job.Replayed,
		IdempotencyKey: key,
		Source:         Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		At:             time.Now().UTC(),
	}
}

var _ streams.Sink = (*CategorizationSink)(nil)
