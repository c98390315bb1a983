package ups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/contactlab/connector/connector/internal/jobs"
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
// topic, then resolves the records: a job whose status word is a completed
// one (StatusWords) delivers them, one whose word is a failed one queues
// them to be sent again, or, after MaxJobAttempts, rejects them with the
// status messages (the runtime dead-letters them).
//
// The reference documents FAILED only. A job still without a word that
// ends it at the job timeout (a word nobody configured, no word, or no
// answer at all) is published UNVERIFIED and its records are delivered
// (committed): only an explicit failure word sends records again, so a
// job that may well have been applied is never repeated for lack of a
// word, and connector_ups_jobs_unverified_total says how often the
// connector could not tell.
//
// The following itself is package jobs': the places among the API key's
// open jobs (MaxOpenJobs, shared by every UPS sink of the client: the
// RequestSender takes a place before each request, the follower gives it
// back when the job ends, or at Close for the jobs a forced stop left
// open), the schedule (a first read about firstRead after the acceptance,
// then at growing waits up to the poll interval), the back-off of failed
// reads (honouring Retry-After) and the pause while the status service
// refuses the credential. A status read fails the way every call does: a
// 401 is retried once with a new token by the client, anything else (404
// for a job the service does not know yet, 5xx, a network error) is read
// again later, until the job timeout.
//
// It is a streams.Part of the sink: Ready says whether it runs and whether
// the status service takes its credential. It has no Run: the sink runs it
// through the runtime's Background.
type JobFollower struct {
	name     string
	pipeline string
	coll     schemas.Collection
	timeout  time.Duration
	batcher  *Batcher
	results  ResultPublisher
	log      *slog.Logger
	m        *Metrics
	follower *jobs.Follower[*openJob, JobStatus]
	// follows numbers the jobs followed: each acceptance is its own job to
	// follow, even if an API answered two with one job id.
	follows atomic.Uint64
}

// openJob is a job being followed. Package jobs hands it to one goroutine
// at a time.
type openJob struct {
	id       string
	version  int64
	entries  []*entry
	attempt  int
	accepted time.Time
	// lastWord is the status service's last word for the job.
	lastWord string
	// outcome is what the job ended with, set by handle for ended.
	outcome JobStatus
}

// newJobFollower builds the follower of a sink's jobs over client.
func newJobFollower(cfg SinkConfig, client *Client, b *Batcher, results ResultPublisher) (*JobFollower, error) {
	f := &JobFollower{
		// "/" cannot appear in a sink name, so this never names another unit.
		name:     cfg.Pipeline + "/job-follower",
		pipeline: cfg.Pipeline,
		coll:     cfg.Collection,
		timeout:  cfg.JobTimeout,
		batcher:  b,
		results:  results,
		log:      cfg.Logger.With("unit", "job-follower"),
		m:        cfg.Metrics,
	}
	fl, err := jobs.New(jobs.Config[*openJob, JobStatus]{
		Interval:  cfg.PollInterval,
		FirstRead: firstRead,
		Places:    client.places,
		Readers:   cfg.StatusReaders,
		Timeout:   cfg.JobTimeout,
		Backoff:   delivery.Policy{InitialInterval: cfg.PollInterval, MaxInterval: max(maxPollBackoff, cfg.PollInterval)},
		Status: func(ctx context.Context, j *openJob) (JobStatus, error) {
			return client.JobStatus(ctx, j.id)
		},
		Handle: f.handle,
		Ended:  f.ended,
		Logger: f.log,
	})
	if err != nil {
		return nil, fmt.Errorf("ups sink %s: job follower: %w", cfg.Pipeline, err)
	}
	f.follower = fl
	return f, nil
}

// Name implements streams.Part.
func (f *JobFollower) Name() string { return f.name }

// Ready implements streams.Part: whether the follower runs and its reads
// are authorized.
func (f *JobFollower) Ready() (bool, string) { return f.follower.Ready() }

// Following is how many of the sink's jobs are followed now.
func (f *JobFollower) Following() int { return f.follower.Stats().Following }

// run reads due jobs until ctx ends (the runtime's forced stop).
func (f *JobFollower) run(ctx context.Context) error { return f.follower.Run(ctx) }

// reserve takes a place among the API key's open jobs for a request about
// to be sent, waiting while all are taken: the back-pressure that bounds
// memory whatever the API's job latency. The caller passes it on with
// follow or gives it back with release.
func (f *JobFollower) reserve(ctx context.Context) error { return f.follower.Reserve(ctx) }

func (f *JobFollower) release() { f.follower.Release() }

// follow starts following j with the place the RequestSender took.
func (f *JobFollower) follow(j *openJob) {
	f.follower.Follow(fmt.Sprint(f.follows.Add(1), "/", j.id), j)
	f.m.openJobs.Inc()
}

// abandon gives back the places of the jobs still open when the sink
// closes; their records have no outcome and are read again after a
// restart. The follower no longer runs.
func (f *JobFollower) abandon() {
	if n := f.follower.Abandon(); n > 0 {
		f.log.Info("jobs left open at the stop; their records stay uncommitted", "jobs", n)
		f.m.openJobs.Sub(float64(n))
	}
}

// handle acts on one read of j's status: a job that ended, or was followed
// for the job timeout, has its outcome published and ends; any other read
// leaves it open. A read or a publication that failed is tried again after
// a back-off (package jobs).
func (f *JobFollower) handle(ctx context.Context, j *openJob, r jobs.Read[JobStatus]) (bool, error) {
	st := r.Status
	// cut: the job timeout itself ended the last read, after an earlier
	// one had read a word: the service's last answer is that word.
	cut := r.TimedOut && errors.Is(r.Err, context.DeadlineExceeded) && j.lastWord != ""
	switch {
	case r.Err == nil && st.State != JobRunning:
	case r.TimedOut && r.Err != nil && !cut:
		st = JobStatus{State: JobUnverified, Status: j.lastWord, Errors: []string{fmt.Sprintf("no outcome from the status service within %s; last read: %v", f.timeout, r.Err)}}
	case r.TimedOut:
		word := st.Status
		if cut {
			word = j.lastWord
		}
		st = JobStatus{State: JobUnverified, Status: word, Errors: []string{fmt.Sprintf("still %q after %s, a word that neither completes nor fails a job (ups.completed_statuses, ups.failed_statuses)", word, f.timeout)}}
	case r.Err != nil:
		f.log.Debug("job status read failed; reading again later", "job", j.id, "error", r.Err, "failures", r.Failures+1)
		return false, r.Err
	default:
		j.lastWord = st.Status
		return false, nil
	}
	res := JobResult{
		JobID:      j.id,
		Version:    j.version,
		Pipeline:   f.pipeline,
		Collection: string(f.coll),
		Records:    len(j.entries),
		Status:     st.State.String(),
		StatusWord: st.Status,
		Errors:     st.Errors,
		Attempt:    j.attempt,
		AcceptedAt: j.accepted.UTC(),
		EndedAt:    time.Now().UTC(),
	}
	if err := f.results.Publish(ctx, res); err != nil {
		f.log.Warn("publishing a job result failed; retrying", "job", j.id, "error", err)
		return false, fmt.Errorf("ups: job %s: publish its result: %w", j.id, err)
	}
	f.m.jobs.WithLabelValues(res.Status).Inc()
	if st.State == JobUnverified {
		f.m.unverified.Inc()
		f.log.Warn("job UNVERIFIED: no word that ends it by the job timeout; its records are committed, not sent again",
			"job", j.id, "records", len(j.entries), "status", st.Status, "reason", st.Errors)
	}
	j.outcome = st
	return true, nil
}

// ended resolves the records of an ended job, whose place is free already:
// whoever sees an outcome sees the job closed.
func (f *JobFollower) ended(j *openJob) {
	f.m.openJobs.Dec()
	if j.outcome.State != JobFailed {
		f.batcher.JobCompleted(j.entries)
		return
	}
	resent := f.batcher.JobFailed(j.entries, func(attempts int) error {
		return streams.Reject("job_failed", &JobFailedError{Collection: string(f.coll), JobID: j.id, Attempts: attempts, Messages: j.outcome.Errors})
	})
	f.log.Info("job FAILED", "job", j.id, "records", len(j.entries), "attempt", j.attempt, "sent_again", resent, "errors", j.outcome.Errors)
}
