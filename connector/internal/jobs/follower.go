package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/contactlab/connector/connector/internal/due"
	"github.com/contactlab/connector/streams/delivery"
)

// Config configures a Follower of jobs of type J (what the API package keeps
// about a job; the handler may change it) whose status reads answer S.
type Config[J, S any] struct {
	// Interval is the wait between two reads of one job's status.
	Interval time.Duration
	// FirstRead, when set and shorter than Interval, is the wait before a
	// job's first read; the wait then doubles up to Interval. A job that
	// ends quickly is seen quickly, and a long one costs a handful of extra
	// reads. Zero: the first read comes after Interval.
	FirstRead time.Duration
	// MaxJobs bounds the jobs followed at once, reserved places included.
	// Set it or Places, not both.
	MaxJobs int
	// Places, when the bound is shared with other Followers (the open jobs
	// of one API key), instead of MaxJobs.
	Places *Places
	// Readers bounds the status reads in flight; default 16.
	Readers int
	// Timeout is how long a job is followed before its reads say TimedOut;
	// zero: never. A job is handled TimedOut within two Intervals of it
	// whatever its reads do: a back-off is cut short at the timeout, a read
	// in flight is cancelled, and a job held back by a pause, or waiting
	// for a reader, is handed to Handle without a read (Read.Err is then
	// ErrNotRead). So no job holds a place long past Timeout.
	Timeout time.Duration
	// Backoff paces the reads of a job after a failed read or handling;
	// default from Interval up to 30s. Its MaxElapsed is not used: a job's
	// budget is Timeout.
	Backoff delivery.Policy
	// Pause paces the probes while the API refuses the credential; default
	// as Backoff.
	Pause delivery.Policy

	// Status reads one job's status.
	Status func(ctx context.Context, job J) (S, error)
	// Handle acts on one read of job, from the goroutine that read it (job
	// is its own until Handle returns). It returns:
	//   - ended: the job is no longer followed and its place is freed;
	//   - err: the read or what Handle did with it failed (a read error it
	//     does not give up on, a result it could not publish); the job is
	//     read again after a back-off of at least RetryDelayOf(err), or,
	//     when err Is delivery.ErrUnauthorized, when the pause lifts (ended
	//     is then ignored);
	//   - neither: the job goes on; it is read again after the interval.
	Handle func(ctx context.Context, job J, r Read[S]) (ended bool, err error)
	// Ended, when set, is called once for each job Handle said ended, after
	// its place was given back: what it does is seen by whoever waits for a
	// place with the job already closed (UPS reports its records' outcomes
	// here, so an outcome is never seen before its job's place is free).
	Ended func(job J)

	// Logger gets the pauses, resumptions and the jobs left open at a stop;
	// default slog.Default().
	Logger *slog.Logger
}

// Read is one read of a job's status, as Config.Handle sees it.
type Read[S any] struct {
	// Status is what the API said; the zero S when Err is set.
	Status S
	// Err is why the read failed, classified as every API error is
	// (delivery.Classify); nil when it succeeded.
	Err error
	// Since is when the job began to be followed (Follow).
	Since time.Time
	// TimedOut: the job has been followed for Config.Timeout or longer.
	TimedOut bool
	// Failures is how many reads or handlings of this job failed in a row
	// before this one.
	Failures int
}

// ErrNotRead is the Read.Err of a job handed to Handle at its timeout
// without a read: the reads were paused (the credential) or had not come
// round. It wraps nothing the runtime acts on: the handler decides.
var ErrNotRead = errors.New("jobs: no status read by the timeout")

// Stats are what a Follower holds now and held at most.
type Stats struct {
	Following int // jobs followed now (reserved places not counted)
	Peak      int // most jobs followed at once since it was built
}

// defaultMaxBackoff caps the default back-offs: a job whose reads fail, or a
// refused credential, is tried at least this often.
const defaultMaxBackoff = 30 * time.Second

// Follower follows jobs until their handler says they ended. Reserve,
// Release, Follow and the read methods are safe for concurrent use; Run is
// called once.
type Follower[J, S any] struct {
	cfg Config[J, S]
	log *slog.Logger

	places *Places // one per followed or reserved job: the cap
	queue  *due.Queue[ticket[J]]
	// expiries are the jobs whose timeout (plus grace) passed, for the
	// check that reads cannot be relied on for (see Config.Timeout).
	expiries *due.Queue[*entry[J]]

	mu   sync.Mutex
	jobs map[string]*entry[J] // by key: queued or being read
	peak int
	// While the credential is refused no job is read until pausedUntil,
	// then one probe at a time: the credential is the API's, so one read
	// per back-off step tells as much as a read of every job.
	paused      string
	pausedUntil time.Time
	pauseRetry  *delivery.Retrier
	probing     bool

	ready delivery.Readiness
}

// entry is a followed job: owned by the follower's lock while queued, by the
// one goroutine reading or handling it (busy) otherwise.
type entry[J any] struct {
	key   string
	job   J
	since time.Time
	wait  time.Duration // between reads while all goes well
	retry *delivery.Retrier
	// timer puts the job among the expiries at its timeout; nil without
	// Config.Timeout.
	timer *time.Timer

	// Under Follower.mu. busy: a goroutine reads or handles the job. gen
	// counts its queuings, so that a ticket left in the queue after the
	// expiry check took the job is dropped.
	busy bool
	gen  uint64
}

// ticket is one queuing of a job for a read.
type ticket[J any] struct {
	e   *entry[J]
	gen uint64
}

// New checks cfg and builds a Follower; it reads nothing until Run.
func New[J, S any](cfg Config[J, S]) (*Follower[J, S], error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Readers == 0 {
		cfg.Readers = 16
	}
	if cfg.Backoff == (delivery.Policy{}) {
		cfg.Backoff = delivery.Policy{InitialInterval: cfg.Interval, MaxInterval: max(defaultMaxBackoff, cfg.Interval)}
	}
	cfg.Backoff.MaxElapsed = 0
	if cfg.Pause == (delivery.Policy{}) {
		cfg.Pause = cfg.Backoff
	}
	cfg.Pause.MaxElapsed = 0
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Places == nil {
		cfg.Places = NewPlaces(cfg.MaxJobs)
	}
	return &Follower[J, S]{
		cfg:        cfg,
		log:        cfg.Logger,
		places:     cfg.Places,
		queue:      due.New[ticket[J]](),
		expiries:   due.New[*entry[J]](),
		jobs:       make(map[string]*entry[J]),
		pauseRetry: cfg.Pause.Start(),
	}, nil
}

// ConfigError names the setting of a Config that cannot work.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "jobs: " + e.Field + ": " + e.Reason }

func (c Config[J, S]) validate() error {
	checks := []struct {
		bad           bool
		field, reason string
	}{
		{c.Interval <= 0, "Interval", "must be positive"},
		{c.FirstRead < 0, "FirstRead", "must not be negative"},
		{c.Places == nil && c.MaxJobs <= 0, "MaxJobs", "must be positive (a place is reserved before each job)"},
		{c.Places != nil && c.MaxJobs != 0, "MaxJobs", "cannot go with Places, which bound the jobs already"},
		{c.Places != nil && c.Places.Cap() <= 0, "Places", "must have at least one place"},
		{c.Readers < 0, "Readers", "must not be negative"},
		{c.Timeout < 0, "Timeout", "must not be negative"},
		{c.Status == nil, "Status", "is needed"},
		{c.Handle == nil, "Handle", "is needed"},
	}
	for _, ch := range checks {
		if ch.bad {
			return &ConfigError{Field: ch.field, Reason: ch.reason}
		}
	}
	return nil
}

// Reserve takes a place for a job about to be created, waiting while every
// place is taken; that wait is the back-pressure. The caller passes the
// place on with Follow or gives it back with Release.
func (f *Follower[J, S]) Reserve(ctx context.Context) error { return f.places.Reserve(ctx) }

// Release gives back a place taken by Reserve and not passed to Follow.
func (f *Follower[J, S]) Release() { f.places.Release() }

// Follow starts following job, known by key, with a place taken by
// Reserve. A key already followed (a creation replayed for a redelivered
// request) keeps its one entry: the new place is given back and Follow
// reports false.
func (f *Follower[J, S]) Follow(key string, job J) bool {
	now := time.Now()
	f.mu.Lock()
	if _, ok := f.jobs[key]; ok {
		f.mu.Unlock()
		f.Release()
		return false
	}
	e := &entry[J]{key: key, job: job, since: now, wait: f.cfg.Interval, retry: f.cfg.Backoff.Start()}
	if f.cfg.FirstRead > 0 {
		e.wait = min(f.cfg.FirstRead, f.cfg.Interval)
	}
	if f.cfg.Timeout > 0 {
		// The timer only queues the check, which Run's goroutines make.
		e.timer = time.AfterFunc(f.expiresIn(), func() { f.expiries.Push(e, time.Now()) })
	}
	f.jobs[key] = e
	f.peak = max(f.peak, len(f.jobs))
	f.mu.Unlock()
	f.push(e, now.Add(e.wait))
	return true
}

// expiresIn is how long after Follow a job is checked for its timeout
// whatever its reads do: the regular reads see it first, within an
// Interval of the timeout, unless they are held back.
func (f *Follower[J, S]) expiresIn() time.Duration { return f.cfg.Timeout + 2*f.cfg.Interval }

// push queues e, which its caller owned, for a read at at.
func (f *Follower[J, S]) push(e *entry[J], at time.Time) {
	f.mu.Lock()
	e.busy = false
	e.gen++
	t := ticket[J]{e: e, gen: e.gen}
	f.mu.Unlock()
	f.queue.Push(t, at)
}

// take makes the caller the owner of t's job, unless the job ended, is
// owned, or was queued again since t.
func (f *Follower[J, S]) take(t ticket[J]) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := t.e
	if f.jobs[e.key] != e || e.busy || e.gen != t.gen {
		return false
	}
	e.busy = true
	return true
}

// Stats returns what the follower holds now and held at most.
func (f *Follower[J, S]) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Stats{Following: len(f.jobs), Peak: f.peak}
}

// Ready reports whether Run runs and the reads are authorized; when not,
// the reason says why.
func (f *Follower[J, S]) Ready() (bool, string) { return f.ready.Ready() }

// Run reads due jobs, at most Readers at once, until ctx ends; then it waits
// for the reads in flight and returns nil. Jobs still open stay followed
// (Stats counts them) but are read no more.
func (f *Follower[J, S]) Run(ctx context.Context) error {
	f.ready.Running(true)
	defer f.ready.Running(false)
	var wg sync.WaitGroup
	if f.cfg.Timeout > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// No hold: a pause must not keep a job past its timeout.
			f.expiries.Run(ctx, f.cfg.Readers, nil, f.expire)
		}()
	}
	f.queue.Run(ctx, f.cfg.Readers, f.held, f.read)
	wg.Wait()
	if n := f.Stats().Following; n > 0 {
		f.log.Warn("job follower stopped with jobs still open; they are read no more", "open_jobs", n)
	}
	return nil
}

// read reads the status of t's job once and lets the handler act on it.
func (f *Follower[J, S]) read(ctx context.Context, t ticket[J]) {
	if !f.take(t) {
		return // ended, or taken by the expiry check
	}
	e := t.e
	probe, ok := f.admit(time.Now())
	if !ok {
		// A probe is out, or the pause began after e was taken: the hold
		// keeps e back until the pause decides.
		f.push(e, time.Now())
		return
	}
	if probe {
		defer f.probed()
	}
	rctx := ctx
	if f.cfg.Timeout > 0 {
		// A read that hangs must not keep the job past its timeout.
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(ctx, e.since.Add(f.expiresIn()))
		defer cancel()
	}
	st, err := f.cfg.Status(rctx, e.job)
	now := time.Now()
	if ctx.Err() != nil {
		// Stopping: e stays as it was, counted among the open jobs.
		f.push(e, now)
		return
	}
	switch {
	case err == nil:
		f.resume()
	case errors.Is(err, delivery.ErrRejected):
		// The job's own refusal (a 404, or a 403 the API client told from
		// a refused credential): no pause, and, answered by the API, proof
		// that the credential works, as the pipeline takes it.
		if delivery.StatusOf(err) != 0 {
			f.resume()
		}
	case errors.Is(err, delivery.ErrUnauthorized):
		f.pause(now, err)
	}
	r := Read[S]{Status: st, Err: err, Since: e.since, Failures: e.retry.Failures(),
		TimedOut: f.cfg.Timeout > 0 && now.Sub(e.since) >= f.cfg.Timeout}
	ended, herr := f.cfg.Handle(ctx, e.job, r)
	now = time.Now()
	switch {
	case herr != nil && ctx.Err() != nil:
		f.push(e, now)
	case herr != nil && errors.Is(herr, delivery.ErrUnauthorized):
		// The credential, not the job: the pause holds it back, and a
		// probe's success lets it through at once.
		f.pause(now, herr)
		f.push(e, now)
	case herr != nil:
		wait, _ := e.retry.Next(herr)
		at := now.Add(wait)
		if deadline := e.since.Add(f.cfg.Timeout); f.cfg.Timeout > 0 && now.Before(deadline) && at.After(deadline) {
			// A back-off never skips the read that finds the job timed out.
			at = deadline
		}
		f.push(e, at)
	case ended:
		f.end(e)
	default:
		e.retry.Reset()
		e.wait = min(2*e.wait, f.cfg.Interval)
		f.push(e, now.Add(e.wait))
	}
}

// expire hands e to the handler as timed out without a read, when its
// reads did not do so in time: a pause held them back, or they failed and
// backed off. A job being read is left to that read, whose context ends at
// the same time.
func (f *Follower[J, S]) expire(ctx context.Context, e *entry[J]) {
	f.mu.Lock()
	if f.jobs[e.key] != e {
		f.mu.Unlock()
		return
	}
	if e.busy {
		f.mu.Unlock()
		f.expiries.Push(e, time.Now().Add(f.cfg.Interval))
		return
	}
	e.busy = true
	e.gen++ // the ticket in the read queue is stale now
	paused := f.paused
	f.mu.Unlock()
	err := ErrNotRead
	if paused != "" {
		err = fmt.Errorf("%w (reads paused: %s)", ErrNotRead, paused)
	}
	ended, herr := f.cfg.Handle(ctx, e.job, Read[S]{Err: err, Since: e.since, TimedOut: true, Failures: e.retry.Failures()})
	now := time.Now()
	switch {
	case herr != nil && ctx.Err() != nil:
		f.push(e, now)
	case herr != nil:
		// Past its timeout a job is no longer read: only this check
		// comes back, after the back-off.
		wait, _ := e.retry.Next(herr)
		f.mu.Lock()
		e.busy = false
		f.mu.Unlock()
		f.expiries.Push(e, now.Add(wait))
	case ended:
		f.end(e)
	default:
		// The handler follows it on past the timeout: reads go on, and so
		// does this check.
		f.push(e, now.Add(f.cfg.Interval))
		f.expiries.Push(e, now.Add(f.cfg.Interval))
	}
}

// end stops following e, frees its place, then lets Ended act.
func (f *Follower[J, S]) end(e *entry[J]) {
	f.mu.Lock()
	mine := f.jobs[e.key] == e
	if mine {
		delete(f.jobs, e.key)
	}
	f.mu.Unlock()
	if !mine {
		return // abandoned meanwhile: its place is back already
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	f.Release()
	if f.cfg.Ended != nil {
		f.cfg.Ended(e.job)
	}
}

// Abandon stops following every job still followed and gives their places
// back; it returns how many there were. It is for after Run returned, when
// the places are shared with other Followers (Config.Places) that go on:
// the abandoned jobs get no further reads and no Ended.
func (f *Follower[J, S]) Abandon() int {
	f.mu.Lock()
	left := make([]*entry[J], 0, len(f.jobs))
	for _, e := range f.jobs {
		left = append(left, e)
	}
	clear(f.jobs)
	f.mu.Unlock()
	for _, e := range left {
		if e.timer != nil {
			e.timer.Stop()
		}
		f.places.Release()
	}
	return len(left)
}

// held is how long no job is read: until the pause's back-off step ends,
// then while its probe is out.
func (f *Follower[J, S]) held(now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.paused == "":
		return 0
	case now.Before(f.pausedUntil):
		return f.pausedUntil.Sub(now)
	case f.probing:
		return time.Hour // probed wakes the queue
	}
	return 0
}

// admit says whether a read may go out now, and whether it is the pause's
// probe. Run may take a few jobs between two looks at held; only one of
// them probes.
func (f *Follower[J, S]) admit(now time.Time) (probe, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.paused == "":
		return false, true
	case now.Before(f.pausedUntil), f.probing:
		return false, false
	}
	f.probing = true
	return true, true
}

// probed ends a probe and lets Run look again: the pause either lifted or
// has a new step.
func (f *Follower[J, S]) probed() {
	f.mu.Lock()
	f.probing = false
	f.mu.Unlock()
	f.queue.Wake()
}

// pause holds every read back for a back-off step that grows while the
// credential keeps being refused. Reads that were out when the step began
// do not lengthen it.
func (f *Follower[J, S]) pause(now time.Time, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !now.Before(f.pausedUntil) {
		wait, _ := f.pauseRetry.Next(err)
		f.pausedUntil = now.Add(wait)
	}
	if f.paused == "" {
		f.log.Warn("job follower paused; probing until the API accepts the credential", "reason", err)
	}
	f.paused = err.Error()
	// Under the lock, so that a resume racing with it cannot leave
	// readiness and the hold disagreeing.
	f.ready.Pause(f.paused)
}

// resume lifts the pause after a read that worked.
func (f *Follower[J, S]) resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paused == "" {
		return
	}
	f.paused, f.pausedUntil = "", time.Time{}
	f.pauseRetry.Reset()
	f.ready.Pause("")
	f.log.Info("job follower resumed")
	f.queue.Wake()
}
