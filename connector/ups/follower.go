package ups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/contactlab/connector/connector/internal/due"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// maxPollBackoff caps the wait between reads of a job whose reads fail,
// and between attempts to publish a job's result.
const maxPollBackoff = 30 * time.Second

// firstRead is the wait before a job's first status read, when shorter than
// the poll interval; the waits then grow up to the interval. A job that
// ends quickly is seen quickly, because its records' offsets (and the
// runtime's room in flight) wait for it, and a long one costs a handful of
// extra reads.
const firstRead = 100 * time.Millisecond

// JobFollower follows a sink's accepted requests on the status service until
// their jobs end. For each ended job it publishes the outcome to the results
// topic, then resolves the records: a COMPLETED job delivers them, a FAILED
// one queues them to be sent again, or, after MaxJobAttempts, rejects them
// with the status messages (the runtime dead-letters them). A job with no
// outcome after the job timeout counts as FAILED: sending the records again
// is safe, the API replaces a user's data.
//
// It holds at most the API key's MaxOpenJobs (the RequestSender takes a
// place before each request and the follower gives it back when the job
// ends, or at Close for the jobs a forced stop left open), so memory stays
// bounded whatever the API's job latency.
//
// A job is first read about firstRead after its acceptance (or after the
// poll interval, if shorter), then at growing waits up to the poll
// interval; both schedules, this one and the back-off of failed reads, are
// delivery.Policy's.
//
// A status read fails the way every call does: a 401 is retried once with a
// new token by the client, anything else (another 401, 404 for a job the
// service does not know yet, 5xx, a network error) is read again later with
// back-off, honouring Retry-After, until the job timeout.
//
// It is a streams.Part of the sink: Ready says whether it runs and whether
// the status service takes its credential.
type JobFollower struct {
	name     string
	pipeline string
	coll     schemas.Collection
	interval time.Duration
	timeout  time.Duration
	readers  int
	client   *Client
	batcher  *Batcher
	results  ResultPublisher
	log      *slog.Logger
	m        *Metrics
	// publish is the retry policy of a result that could not be published.
	publish delivery.Policy

	jobs *due.Queue[*openJob] // waiting for their next read
	// held counts the places among open jobs held for this sink's jobs.
	held atomic.Int64

	ready delivery.Readiness
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
	reads    int // answered reads while it runs
	failures int // failed reads in a row
}

// Name implements streams.Part.
func (f *JobFollower) Name() string { return f.name }

// Ready implements streams.Part: whether the follower runs and its reads
// are authorized.
func (f *JobFollower) Ready() (bool, string) {
	return f.ready.Ready()
}

func (f *JobFollower) setPaused(reason string) {
	if reason != "" {
		reason = "status service: " + reason
	}
	f.ready.Pause(reason)
}

// pollSchedule is when a running job is read again: soon at first, then
// less often, up to the poll interval.
func (f *JobFollower) pollSchedule() delivery.Policy {
	return delivery.Policy{InitialInterval: min(firstRead, f.interval), MaxInterval: f.interval}
}

// readRetry is the back-off of a job whose status reads fail.
func (f *JobFollower) readRetry() delivery.Policy {
	return delivery.Policy{InitialInterval: f.interval, MaxInterval: maxPollBackoff}
}

// follow starts following j, whose job place the RequestSender took.
func (f *JobFollower) follow(j *openJob) {
	f.held.Add(1)
	f.m.openJobs.Inc()
	j.next = j.accepted.Add(f.nextRead(j))
	f.requeue(j)
}

// nextRead is the wait before j's next read while it runs; never longer
// than the poll interval, whatever the jitter.
func (f *JobFollower) nextRead(j *openJob) time.Duration {
	return min(f.pollSchedule().Delay(j.reads+1, 0), f.interval)
}

// requeue queues j for its next read, at j.next.
func (f *JobFollower) requeue(j *openJob) { f.jobs.Push(j, j.next) }

// run reads due jobs, at most readers at once, until ctx ends (the
// runtime's forced stop).
func (f *JobFollower) run(ctx context.Context) error {
	f.ready.Running(true)
	defer f.ready.Running(false)
	f.jobs.Run(ctx, f.readers, nil, f.read)
	return nil
}

// release gives back the place of one ended job.
func (f *JobFollower) release() {
	f.held.Add(-1)
	f.m.openJobs.Dec()
	f.client.releaseJob()
}

// abandon gives back the places of the jobs still open when the sink
// closes; their records have no outcome and are read again after a
// restart. The follower no longer runs.
func (f *JobFollower) abandon() {
	n := f.held.Swap(0)
	if n > 0 {
		f.log.Info("jobs left open at the stop; their records stay uncommitted", "jobs", n)
	}
	for range n {
		f.m.openJobs.Dec()
		f.client.releaseJob()
	}
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
		wait := f.readRetry().Delay(j.failures, delivery.RetryDelayOf(err))
		j.next = now.Add(wait)
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
		j.reads++
		j.next = now.Add(f.nextRead(j))
		f.requeue(j)
		return
	}
	f.end(ctx, j, st)
}

// end publishes j's outcome, then frees its place and resolves its records.
// If ctx ends before the outcome is published, the records stay in flight
// without an outcome (they will be read again) and Close frees the place.
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
	retry := f.publish.Start()
	for {
		err := f.results.Publish(ctx, res)
		if err == nil {
			break
		}
		f.log.Warn("publishing a job result failed; retrying", "job", j.id, "error", err)
		if retry.Wait(ctx, err) != nil {
			return
		}
	}
	f.m.jobs.WithLabelValues(status).Inc()
	// The place is free before the records' outcomes are reported: whoever
	// sees an outcome sees the job closed.
	f.release()
	if st.State == JobCompleted {
		f.batcher.JobCompleted(j.entries)
		return
	}
	resent := f.batcher.JobFailed(j.entries, func(attempts int) error {
		return streams.Reject("job_failed", &JobFailedError{Collection: string(f.coll), JobID: j.id, Attempts: attempts, Messages: st.Errors})
	})
	f.log.Info("job FAILED", "job", j.id, "records", len(j.entries), "attempt", j.attempt, "sent_again", resent, "errors", st.Errors)
}
