package enablenow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/contactlab/connector/connector/internal/due"
	"github.com/contactlab/connector/streams"
)

// MonitorConfig configures a JobMonitor.
type MonitorConfig struct {
	// Name is the unit's name, e.g. "categorization/job-monitor".
	Name string
	// PollInterval is the wait between two reads of one job's status.
	PollInterval time.Duration
	// MaxJobs bounds the jobs followed at once; see JobMonitor.
	MaxJobs int
	// Timeout is how long one job is followed before the monitor gives up.
	Timeout time.Duration
	// Concurrency bounds the status reads in flight; default 16.
	Concurrency int
	Logger      *slog.Logger
	Metrics     *Metrics
}

// maxPollBackoff caps the wait between reads of a job whose reads fail.
const maxPollBackoff = 30 * time.Second

// JobMonitor follows created jobs until they end, reading each one's status
// every PollInterval and publishing every change it sees, the last one with
// Final set. It is a unit: Run holds all its goroutines.
//
// Memory is bounded by MaxJobs: the sink reserves a place before it creates a
// job, and waits while none is free, so the cap holds back the topic
// (back-pressure) instead of growing a queue. A job that does not end within
// Timeout gets a final result with an Error and frees its place, so jobs that
// never end cannot stall the pipeline for good.
//
// Status reads fail the way every call does, classified by package httpapi:
// a credential failure pauses (Ready says so) and is retried, a rejection
// (404: the API no longer knows the job) ends the following with an Error,
// anything else is retried with back-off, honouring Retry-After.
//
// What it follows lives in memory only: after a stop or a crash, the jobs
// that had not ended get no further results (see the README on guarantees).
// A status that lasts less than PollInterval may be missed; the final one
// never is.
type JobMonitor struct {
	cfg     MonitorConfig
	client  *EnableNowClient
	results ResultPublisher
	log     *slog.Logger
	m       *Metrics

	places chan struct{} // one token per followed or reserved job: the cap

	mu   sync.Mutex
	jobs map[string]*followedJob // by job id: waiting in queue or being read
	// queue holds the jobs waiting for their next read; a job being read is
	// out of it, so it is never read twice at once.
	queue *due.Queue[*followedJob]
	peak  int
	// While a read is refused for its credential, no job is read until
	// pausedUntil: the credential is the API's, so one probe per back-off
	// step is enough, and jobs are not penalized for it.
	pausedUntil  time.Time
	pauseStrikes int

	ready streams.Readiness
}

// followedJob is owned by the monitor's lock while queued and by the one
// goroutine reading it otherwise.
type followedJob struct {
	last     JobResult // the last result published
	since    time.Time // when following began, for Timeout
	failures int       // consecutive failed reads or publishes, for back-off
}

// NewJobMonitor builds a monitor that reads through client and publishes
// through results.
func NewJobMonitor(cfg MonitorConfig, client *EnableNowClient, results ResultPublisher) *JobMonitor {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.MaxJobs <= 0 {
		cfg.MaxJobs = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &JobMonitor{
		cfg:     cfg,
		client:  client,
		results: results,
		log:     cfg.Logger,
		m:       cfg.Metrics,
		places:  make(chan struct{}, cfg.MaxJobs),
		queue:   due.New[*followedJob](),
		jobs:    make(map[string]*followedJob),
	}
}

// Name implements the service's Unit.
func (m *JobMonitor) Name() string { return m.cfg.Name }

// Ready reports whether the monitor runs and its reads are authorized.
func (m *JobMonitor) Ready() (bool, string) {
	return m.ready.Ready()
}

// MonitorStats are what a monitor holds now and held at most.
type MonitorStats struct {
	Following int // jobs followed now
	Peak      int // most jobs followed at once since start
}

// Stats returns the monitor's figures, for tests and progress reports.
func (m *JobMonitor) Stats() MonitorStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MonitorStats{Following: len(m.jobs), Peak: m.peak}
}

// reserve takes a place for a job about to be created, waiting while all
// are taken. The caller must pass it on with follow or give it back with
// release.
func (m *JobMonitor) reserve(ctx context.Context) error {
	select {
	case m.places <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for room among %d monitored jobs: %w", m.cfg.MaxJobs, ctx.Err())
	}
}

func (m *JobMonitor) release() { <-m.places }

// follow starts following the job of r with a place taken by reserve. A job
// already followed (a redelivered request whose creation was replayed) keeps
// its one entry, and the new place is given back.
func (m *JobMonitor) follow(r JobResult) {
	now := time.Now()
	m.mu.Lock()
	if _, ok := m.jobs[r.JobID]; ok {
		m.mu.Unlock()
		m.release()
		return
	}
	j := &followedJob{last: r, since: now}
	m.jobs[r.JobID] = j
	m.peak = max(m.peak, len(m.jobs))
	m.mu.Unlock()
	m.m.following.Inc()
	m.queue.Push(j, now.Add(m.cfg.PollInterval))
}

// Run reads due jobs, at most Concurrency at once, until ctx ends; then it
// waits for the reads in flight and returns nil.
func (m *JobMonitor) Run(ctx context.Context) error {
	m.ready.Running(true)
	defer m.ready.Running(false)
	m.queue.Run(ctx, m.cfg.Concurrency, m.held, m.poll)
	m.stopped()
	return nil
}

// stopped logs what Run leaves unfollowed.
func (m *JobMonitor) stopped() {
	if n := m.Stats().Following; n > 0 {
		m.log.Warn("job monitor stopped with jobs still open; their later status changes will not be published", "open_jobs", n)
	}
}

// held is how long no job is read: while the credential is refused, one
// probe per back-off step is enough.
func (m *JobMonitor) held(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pausedUntil.Sub(now)
}

// requeue puts j back to be read at next.
func (m *JobMonitor) requeue(j *followedJob, next time.Time) { m.queue.Push(j, next) }

// drop stops following j and frees its place.
func (m *JobMonitor) drop(j *followedJob) {
	m.mu.Lock()
	delete(m.jobs, j.last.JobID)
	m.mu.Unlock()
	m.m.following.Dec()
	m.release()
}

// poll reads j's status once and publishes what changed.
func (m *JobMonitor) poll(ctx context.Context, j *followedJob) {
	job, err := m.client.Job(ctx, j.last.JobID)
	now := time.Now()
	if ctx.Err() != nil {
		// Stopping: keep the job as it was, for the open-jobs count.
		m.requeue(j, now)
		return
	}
	timedOut := now.Sub(j.since) >= m.cfg.Timeout
	switch {
	case err == nil:
		m.resume()
		if job.Status == j.last.Status && !timedOut {
			j.failures = 0
			m.requeue(j, now.Add(m.cfg.PollInterval))
			return
		}
		r := j.last
		r.Status, r.Terminal, r.Replayed, r.At, r.Error = job.Status, job.Terminal, false, now.UTC(), ""
		r.Final = job.Terminal
		gaveUp := ""
		if timedOut && !job.Terminal {
			r.Final, gaveUp = true, "timeout"
			r.Error = fmt.Sprintf("job not ended after %s; no longer followed", m.cfg.Timeout)
		}
		m.publish(ctx, j, r, gaveUp)
	case errors.Is(err, streams.ErrRejected):
		// The API will not tell us about this job again (gone, or never
		// known): waiting cannot help.
		m.giveUp(ctx, j, now, "rejected", fmt.Errorf("no longer followed: %w", err))
	case timedOut:
		m.giveUp(ctx, j, now, "timeout", fmt.Errorf("job not ended after %s; no longer followed; last read: %w", m.cfg.Timeout, err))
	case errors.Is(err, streams.ErrUnauthorized):
		m.pause(now, err)
		m.requeue(j, now)
	default:
		j.failures++
		m.log.Debug("reading job status failed; retrying", "job", j.last.JobID, "error", err, "failures", j.failures)
		m.requeue(j, now.Add(max(m.backoff(j.failures), streams.RetryDelayOf(err))))
	}
}

// giveUp publishes j's last status as final, with why it is no longer followed.
func (m *JobMonitor) giveUp(ctx context.Context, j *followedJob, now time.Time, reason string, err error) {
	r := j.last
	r.Replayed, r.Final, r.At, r.Error = false, true, now.UTC(), err.Error()
	m.publish(ctx, j, r, reason)
}

// publish writes r. When r is final the job is dropped, counted as given up
// when gaveUp names why; when publishing fails the job stays, to be read and
// published again after a back-off.
func (m *JobMonitor) publish(ctx context.Context, j *followedJob, r JobResult, gaveUp string) {
	if err := m.results.Publish(ctx, r); err != nil {
		j.failures++
		m.log.Warn("publishing a job's status failed; will read it again and retry", "job", r.JobID, "error", err)
		m.requeue(j, time.Now().Add(m.backoff(j.failures)))
		return
	}
	j.failures = 0
	if r.Status != j.last.Status {
		m.m.changes.Inc()
	}
	j.last = r
	if !r.Final {
		m.requeue(j, time.Now().Add(m.cfg.PollInterval))
		return
	}
	if gaveUp != "" {
		m.m.gaveUp.WithLabelValues(gaveUp).Inc()
		m.log.Warn("job no longer followed before it ended", "job", r.JobID, "status", r.Status, "reason", r.Error)
	}
	m.drop(j)
}

// backoff doubles the poll interval per consecutive failure, up to
// maxPollBackoff (or the poll interval, when that is longer).
func (m *JobMonitor) backoff(failures int) time.Duration {
	d := m.cfg.PollInterval << min(failures, 10)
	return max(min(d, maxPollBackoff), m.cfg.PollInterval)
}

// pause stops all reads for a back-off step that grows while the credential
// keeps failing. Reads already in flight when the pause began do not lengthen it.
func (m *JobMonitor) pause(now time.Time, err error) {
	m.mu.Lock()
	if !now.Before(m.pausedUntil) {
		m.pauseStrikes++
		m.pausedUntil = now.Add(max(m.backoff(m.pauseStrikes), streams.RetryDelayOf(err)))
	}
	m.mu.Unlock()
	m.setPaused(err.Error())
}

func (m *JobMonitor) resume() {
	m.mu.Lock()
	m.pauseStrikes = 0
	m.mu.Unlock()
	m.setPaused("")
}

func (m *JobMonitor) setPaused(reason string) {
	if !m.ready.Pause(reason) {
		return
	}
	if reason != "" {
		m.log.Warn("job monitor paused; retrying until the API accepts the credential", "reason", reason)
	} else {
		m.log.Info("job monitor resumed")
	}
}
