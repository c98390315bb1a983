package enablenow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/contactlab/connector/connector/internal/jobs"
	"github.com/contactlab/connector/streams/delivery"
)

// MonitorConfig configures a JobMonitor.
type MonitorConfig struct {
	// Name is the part's name, e.g. "categorization/job-monitor".
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

// JobMonitor follows created jobs until they end, reading each one's status
// every PollInterval and publishing every change it sees, the last one with
// Final set. It is a part of the CategorizationSink: the sink runs it
// (Start) and the service shows its readiness beside the pipeline's.
//
// Memory is bounded by MaxJobs: the sink reserves a place before it creates a
// job, and waits while none is free, so the cap holds back the topic
// (back-pressure) instead of growing a queue. A job that does not end within
// Timeout gets a final result with an Error and frees its place, so jobs that
// never end cannot stall the pipeline for good: a status word nobody
// configured, no status at all, reads that fail or a refused credential
// hold a place at most two poll intervals past Timeout (package jobs).
//
// Status reads fail the way every call does, classified by package httpapi:
// a credential failure pauses every read (Ready says so) and one probe per
// back-off step finds out when it works again; a rejection (404: the API no
// longer knows the job; 403 while the credential works for a cheap read:
// the job is hidden from it, see Client) ends the following with an Error;
// anything else is retried with back-off, honouring Retry-After. The following itself
// (places, schedule, back-off, pause) is package jobs'.
//
// What it follows lives in memory only: after a stop or a crash, the jobs
// that had not ended get no further results (see the README on guarantees).
// A status that lasts less than PollInterval may be missed; the final one
// never is.
type JobMonitor struct {
	name     string
	timeout  time.Duration
	results  ResultPublisher
	log      *slog.Logger
	m        *Metrics
	follower *jobs.Follower[*followedJob, Job]
}

// followedJob is what the monitor keeps of a job: the last result it
// published. Package jobs hands it to one read at a time.
type followedJob struct {
	last JobResult
}

// NewJobMonitor builds a monitor that reads through client and publishes
// through results.
func NewJobMonitor(cfg MonitorConfig, client *Client, results ResultPublisher) (*JobMonitor, error) {
	if cfg.MaxJobs <= 0 {
		cfg.MaxJobs = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	m := &JobMonitor{name: cfg.Name, timeout: cfg.Timeout, results: results, log: cfg.Logger, m: cfg.Metrics}
	f, err := jobs.New(jobs.Config[*followedJob, Job]{
		Interval: cfg.PollInterval,
		MaxJobs:  cfg.MaxJobs,
		Readers:  cfg.Concurrency,
		Timeout:  cfg.Timeout,
		Status: func(ctx context.Context, j *followedJob) (Job, error) {
			return client.Job(ctx, j.last.JobID)
		},
		Handle: m.handle,
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("enablenow: job monitor %s: %w", cfg.Name, err)
	}
	m.follower = f
	return m, nil
}

// Name implements streams.Part.
func (m *JobMonitor) Name() string { return m.name }

// Ready reports whether the monitor runs and its reads are authorized.
func (m *JobMonitor) Ready() (bool, string) { return m.follower.Ready() }

// MonitorStats are what a monitor holds now and held at most.
type MonitorStats struct {
	Following int // jobs followed now
	Peak      int // most jobs followed at once since start
}

// Stats returns the monitor's figures, for tests and progress reports.
func (m *JobMonitor) Stats() MonitorStats {
	st := m.follower.Stats()
	return MonitorStats{Following: st.Following, Peak: st.Peak}
}

// run reads due jobs until ctx ends. It is not Run: the monitor is a part,
// which the sink runs, and a unit with Run would be run by the service too.
func (m *JobMonitor) run(ctx context.Context) error { return m.follower.Run(ctx) }

// reserve takes a place for a job about to be created, waiting while all
// are taken. The caller must pass it on with follow or give it back with
// release.
func (m *JobMonitor) reserve(ctx context.Context) error { return m.follower.Reserve(ctx) }

func (m *JobMonitor) release() { m.follower.Release() }

// follow starts following the job of r with a place taken by reserve. A job
// already followed (a redelivered request whose creation was replayed) keeps
// its one entry, and the new place is given back.
func (m *JobMonitor) follow(r JobResult) {
	if m.follower.Follow(r.JobID, &followedJob{last: r}) {
		m.m.following.Inc()
	}
}

// handle acts on one read of j's status: it publishes a change, or the end
// of the following, and says whether j ended.
func (m *JobMonitor) handle(ctx context.Context, j *followedJob, r jobs.Read[Job]) (bool, error) {
	now := time.Now()
	switch {
	case r.Err == nil:
		if r.Status.Status == j.last.Status && !r.TimedOut {
			return false, nil
		}
		res := j.last
		res.Status, res.Terminal, res.Replayed, res.At, res.Error = r.Status.Status, r.Status.Terminal, false, now.UTC(), ""
		res.Outcome = r.Status.Outcome
		res.Final = r.Status.Terminal
		gaveUp := ""
		if r.TimedOut && !r.Status.Terminal {
			res.Final, gaveUp = true, "timeout"
			res.Error = fmt.Sprintf("job not ended after %s; no longer followed", m.timeout)
		}
		return m.publish(ctx, j, res, gaveUp)
	case errors.Is(r.Err, delivery.ErrRejected):
		// The API will not tell us about this job again (gone, or never
		// known): waiting cannot help.
		return m.giveUp(ctx, j, now, "rejected", fmt.Errorf("no longer followed: %w", r.Err))
	case r.TimedOut:
		return m.giveUp(ctx, j, now, "timeout", fmt.Errorf("job not ended after %s; no longer followed; last read: %w", m.timeout, r.Err))
	}
	m.log.Debug("reading job status failed; retrying", "job", j.last.JobID, "error", r.Err, "failures", r.Failures+1)
	return false, r.Err
}

// giveUp publishes j's last status as final, with why it is no longer followed.
func (m *JobMonitor) giveUp(ctx context.Context, j *followedJob, now time.Time, reason string, err error) (bool, error) {
	res := j.last
	res.Replayed, res.Final, res.At, res.Error = false, true, now.UTC(), err.Error()
	return m.publish(ctx, j, res, reason)
}

// publish writes res and reports whether j ended, counted as given up when
// gaveUp names why. When publishing fails j stays, to be read and published
// again after a back-off.
func (m *JobMonitor) publish(ctx context.Context, j *followedJob, res JobResult, gaveUp string) (bool, error) {
	if err := m.results.Publish(ctx, res); err != nil {
		m.log.Warn("publishing a job's status failed; will read it again and retry", "job", res.JobID, "error", err)
		return false, fmt.Errorf("job %s: publish status %q: %w", res.JobID, res.Status, err)
	}
	if res.Status != j.last.Status {
		m.m.changes.Inc()
	}
	j.last = res
	if !res.Final {
		return false, nil
	}
	if gaveUp != "" {
		m.m.gaveUp.WithLabelValues(gaveUp).Inc()
		m.log.Warn("job no longer followed before it ended", "job", res.JobID, "status", res.Status, "reason", res.Error)
	}
	m.m.following.Dec()
	return true, nil
}
