package ups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/contactlab/connector/connector/internal/due"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// maxPollBackoff caps the wait between reads of a job whose reads fail.
const maxPollBackoff = 30 * time.Second

// firstRead is the wait before a job's first status read, when shorter than
// the poll interval; the wait then doubles up to the interval. A job that
// ends quickly is seen quickly, because its records' Write calls wait for
// it, and a long one costs a handful of extra reads.
const firstRead = 100 * time.Millisecond

// JobFollower is the unit that follows a sink's accepted requests on the
// status service until their jobs end. For each ended job it publishes the
// outcome to the results topic, then resolves the records: a COMPLETED job
// delivers them, a FAILED one queues them to be sent again, or, after
// MaxJobAttempts, rejects them with the status messages (the runtime
// dead-letters them). A job with no outcome after the job timeout counts as
// FAILED: sending the records again is safe, the API replaces a user's data.
//
// It holds at most the API key's MaxOpenJobs (the RequestSender takes a
// place before each request and the follower gives it back when the job
// ends), so memory stays bounded whatever the API's job latency.
//
// A job is first read firstRead after its acceptance (or after the poll
// interval, if shorter), then at doubling waits up to the poll interval.
//
// A status read fails the way every call does: a 401 is retried once with a
// new token by the client, anything else (another 401, 404 for a job the
// service does not know yet, 5xx, a network error) is read again later with
// back-off, honouring Retry-After, until the job timeout.
type JobFollower struct {
	name       string
	pipeline   string
	coll       schemas.Collection
	interval   time.Duration
	timeout    time.Duration
	readers    int
	drain      time.Duration
	client     *Client
	batcher    *Batcher
	results    ResultPublisher
	log        *slog.Logger
	m          *Metrics
	publishing time.Duration // first back-off of a failed publish

	jobs *due.Queue[*openJob] // waiting for their next read

	ready streams.Readiness
}

// openJob is a job being followed. It is owned by the follower's lock while
// queued and by the one goroutine reading it otherwise.
type openJob struct {
	id       string
	version  int64
	entries  []*entry
	attempt  int
	accepted time.Time
	next     time.Time
	wait     time.Duration // between reads while it runs
	failures int
	index    int
}

// Name implements the service's Unit.
func (f *JobFollower) Name() string { return f.name }

// Ready reports whether the follower runs and its reads are authorized.
func (f *JobFollower) Ready() (bool, string) {
	return f.ready.Ready()
}

func (f *JobFollower) setPaused(reason string) {
	if reason != "" {
		reason = "status service: " + reason
	}
	f.ready.Pause(reason)
}

// follow starts following j, whose job place the RequestSender took.
func (f *JobFollower) follow(j *openJob) {
	j.wait = min(firstRead, f.interval)
	j.next = j.accepted.Add(j.wait)
	f.m.openJobs.Inc()
	f.requeue(j)
}

// requeue queues j for its next read, at j.next.
func (f *JobFollower) requeue(j *openJob) { f.jobs.Push(j, j.next) }

// Run reads due jobs, at most readers at once, until ctx ends and then,
// while Write calls still wait, for up to the drain time.
func (f *JobFollower) Run(ctx context.Context) error {
	f.ready.Running(true)
	defer f.ready.Running(false)
	work, stop := drainContext(ctx, f.batcher, f.drain)
	defer stop()
	f.jobs.Run(work, f.readers, nil, f.read)
	return nil
}

// read reads j's status once and acts on it.
func (f *JobFollower) read(ctx context.Context, j *openJob) {
	st, err := f.client.JobStatus(ctx, j.id)
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, streams.ErrUnauthorized) {
			f.setPaused(err.Error())
		}
		j.failures++
		if now.Sub(j.accepted) >= f.timeout {
			f.end(ctx, j, JobStatus{State: JobFailed, Status: "FAILED", Errors: []string{fmt.Sprintf("no outcome from the status service within %s; last read: %v", f.timeout, err)}})
			return
		}
		wait := min(f.interval<<min(j.failures, 16), maxPollBackoff)
		j.next = now.Add(max(wait, streams.RetryDelayOf(err)))
		f.log.Debug("job status read failed; reading again later", "job", j.id, "in", wait, "error", err)
		f.requeue(j)
		return
	}
	f.setPaused("")
	j.failures = 0
	if st.State == JobRunning {
		if now.Sub(j.accepted) >= f.timeout {
			st = JobStatus{State: JobFailed, Status: "FAILED", Errors: []string{fmt.Sprintf("still %s after %s", st.Status, f.timeout)}}
			f.end(ctx, j, st)
			return
		}
		j.wait = min(2*j.wait, f.interval)
		j.next = now.Add(j.wait)
		f.requeue(j)
		return
	}
	f.end(ctx, j, st)
}

// end publishes j's outcome, then resolves its records and frees its place.
// If ctx ends before the outcome is published, the records stay in flight
// and their Write calls are abandoned (they will be read again).
func (f *JobFollower) end(ctx context.Context, j *openJob, st JobStatus) {
	status := st.State.String()
	res := JobResult{
		JobID:      j.id,
		Version:    j.version,
		Pipeline:   f.pipeline,
		Collection: string(f.coll),
		Records:    len(j.entries),
		Status:     status,
		Errors:     st.Errors,
		Attempt:    j.attempt,
		AcceptedAt: j.accepted.UTC(),
		EndedAt:    time.Now().UTC(),
	}
	wait := f.publishing
	for {
		err := f.results.Publish(ctx, res)
		if err == nil {
			break
		}
		f.log.Warn("publishing a job result failed; retrying", "job", j.id, "error", err)
		if !streams.Sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, maxPollBackoff)
	}
	f.m.jobs.WithLabelValues(status).Inc()
	f.m.openJobs.Dec()
	defer f.client.releaseJob()
	if st.State == JobCompleted {
		f.batcher.JobCompleted(j.entries)
		return
	}
	resent := f.batcher.JobFailed(j.entries, func(attempts int) error {
		return streams.Reject("job_failed", &JobFailedError{Collection: string(f.coll), JobID: j.id, Attempts: attempts, Messages: st.Errors})
	})
	f.log.Info("job FAILED", "job", j.id, "records", len(j.entries), "attempt", j.attempt, "sent_again", resent, "errors", st.Errors)
}
