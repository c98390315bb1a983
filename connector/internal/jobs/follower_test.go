package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/internal/jobs"
	"github.com/contactlab/connector/streams/delivery"
	"github.com/contactlab/connector/streams/streamstest"
)

var quiet = slog.New(slog.DiscardHandler)

func okStatus(context.Context, *job) (string, error) { return "running", nil }

func ignore(context.Context, *job, jobs.Read[string]) (bool, error) { return false, nil }

// Each bad config is refused by New with the field that is wrong, instead of
// a follower that spins, never reads, or cannot take a job.
func TestNewRejectsConfigsThatCannotWork(t *testing.T) {
	good := jobs.Config[*job, string]{Interval: time.Second, MaxJobs: 1, Status: okStatus, Handle: ignore}
	cases := []struct {
		name   string
		mutate func(*jobs.Config[*job, string])
		field  string // "" for a good config
	}{
		{"the minimum", func(*jobs.Config[*job, string]) {}, ""},
		// A zero interval would read every job in a loop.
		{"no interval", func(c *jobs.Config[*job, string]) { c.Interval = 0 }, "Interval"},
		{"negative first read", func(c *jobs.Config[*job, string]) { c.FirstRead = -1 }, "FirstRead"},
		// No place could ever be reserved: the sink would wait for ever.
		{"no places", func(c *jobs.Config[*job, string]) { c.MaxJobs = 0 }, "MaxJobs"},
		{"negative readers", func(c *jobs.Config[*job, string]) { c.Readers = -1 }, "Readers"},
		{"negative timeout", func(c *jobs.Config[*job, string]) { c.Timeout = -time.Second }, "Timeout"},
		{"no status read", func(c *jobs.Config[*job, string]) { c.Status = nil }, "Status"},
		{"no handler", func(c *jobs.Config[*job, string]) { c.Handle = nil }, "Handle"},
		// Followers sharing an API key's places.
		{"shared places", func(c *jobs.Config[*job, string]) { c.MaxJobs, c.Places = 0, jobs.NewPlaces(3) }, ""},
		{"shared places and a bound of its own", func(c *jobs.Config[*job, string]) { c.Places = jobs.NewPlaces(3) }, "MaxJobs"},
		{"shared places, none of them", func(c *jobs.Config[*job, string]) { c.MaxJobs, c.Places = 0, jobs.NewPlaces(0) }, "Places"},
		// A first read later than the interval is only capped, not wrong.
		{"first read past the interval", func(c *jobs.Config[*job, string]) { c.FirstRead = time.Hour }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			_, err := jobs.New(cfg)
			var ce *jobs.ConfigError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field):
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

// job is what a test follows: the reads it saw, in order.
type job struct {
	id    string
	reads []jobs.Read[string]
	at    []time.Time
}

// step is what one read of a scripted job does.
type step struct {
	readErr error // the status read's error
	ended   bool  // what Handle returns
	err     error
}

// Handle decides each job's fate, and the follower schedules the next read
// from that: the interval after a quiet read (doubling up from FirstRead),
// a back-off after a failure (at least the server's hint), nothing after
// the end. Gaps are lower bounds only: a loaded machine may be late, never
// early.
func TestHandleDecidesEachJobsFate(t *testing.T) {
	errBoom := errors.New("boom")
	cases := []struct {
		name     string
		cfg      jobs.Config[*job, string]
		script   []step
		minGaps  []time.Duration // before each read, from Follow
		failures []int           // Read.Failures seen by each read
		timedOut []bool          // Read.TimedOut seen by each read; nil: all false
	}{
		{
			name:     "read at the interval until the handler says it ended",
			cfg:      jobs.Config[*job, string]{Interval: 20 * time.Millisecond},
			script:   []step{{}, {}, {ended: true}},
			minGaps:  []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
			failures: []int{0, 0, 0},
		},
		{
			// UPS: a job that ends quickly is seen quickly.
			name:     "early first reads double up to the interval",
			cfg:      jobs.Config[*job, string]{Interval: 40 * time.Millisecond, FirstRead: 5 * time.Millisecond},
			script:   []step{{}, {}, {}, {}, {ended: true}},
			minGaps:  []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond},
			failures: []int{0, 0, 0, 0, 0},
		},
		{
			// The policy's jitter draws from half the step up; a success
			// forgets the failures.
			name: "a failed read or handling backs off, a success forgets it",
			cfg: jobs.Config[*job, string]{Interval: time.Millisecond,
				Backoff: delivery.Policy{InitialInterval: 40 * time.Millisecond, MaxInterval: time.Second}},
			script:   []step{{readErr: errBoom, err: errBoom}, {err: errBoom}, {}, {ended: true}},
			minGaps:  []time.Duration{time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, time.Millisecond},
			failures: []int{0, 1, 2, 0},
		},
		{
			name:     "a Retry-After is waited out",
			cfg:      jobs.Config[*job, string]{Interval: time.Millisecond},
			script:   []step{{readErr: delivery.RetryAfter(100*time.Millisecond, errBoom), err: delivery.RetryAfter(100*time.Millisecond, errBoom)}, {ended: true}},
			minGaps:  []time.Duration{time.Millisecond, 100 * time.Millisecond},
			failures: []int{0, 1},
		},
		{
			// EnableNow gives up, UPS counts the job FAILED: the handler's
			// call, on the read that finds the job followed too long.
			name:     "the handler sees the timeout",
			cfg:      jobs.Config[*job, string]{Interval: 30 * time.Millisecond, Timeout: 50 * time.Millisecond},
			script:   []step{{}, {ended: true}},
			minGaps:  []time.Duration{30 * time.Millisecond, 30 * time.Millisecond},
			failures: []int{0, 0},
			timedOut: []bool{false, true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var reads atomic.Int32
			errs := map[int]error{}
			for i, s := range tc.script {
				errs[i] = s.readErr
			}
			cfg := tc.cfg
			cfg.MaxJobs, cfg.Logger = 1, quiet
			cfg.Status = func(_ context.Context, j *job) (string, error) {
				n := len(j.reads)
				if n >= len(tc.script) {
					t.Errorf("read %d of a job whose script has %d", n+1, len(tc.script))
					return "", errBoom
				}
				if err := errs[n]; err != nil {
					return "", err
				}
				return fmt.Sprint("status-", n), nil
			}
			cfg.Handle = func(_ context.Context, j *job, r jobs.Read[string]) (bool, error) {
				j.reads, j.at = append(j.reads, r), append(j.at, time.Now())
				reads.Add(1)
				s := tc.script[len(j.reads)-1]
				return s.ended, s.err
			}
			f := mustNew(t, cfg)
			run(t, f)
			j := &job{id: "j"}
			if err := f.Reserve(t.Context()); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			f.Follow(j.id, j)
			waitEnded(t, f)
			// The place is free again: the one place can be taken.
			if err := reserveWithin(f, time.Second); err != nil {
				t.Fatalf("place not freed when the job ended: %v", err)
			}
			if int(reads.Load()) != len(tc.script) {
				t.Fatalf("%d reads, want %d", reads.Load(), len(tc.script))
			}
			prev := start
			for i, r := range j.reads {
				if gap := j.at[i].Sub(prev); gap < tc.minGaps[i] {
					t.Errorf("read %d came %s after the one before, want at least %s", i+1, gap, tc.minGaps[i])
				}
				prev = j.at[i]
				if r.Failures != tc.failures[i] {
					t.Errorf("read %d: Failures %d, want %d", i+1, r.Failures, tc.failures[i])
				}
				if want := tc.timedOut != nil && tc.timedOut[i]; r.TimedOut != want {
					t.Errorf("read %d: TimedOut %v, want %v", i+1, r.TimedOut, want)
				}
				if r.Since != j.reads[0].Since || r.Since.Before(start) {
					t.Errorf("read %d: Since %v moved or is before Follow (%v)", i+1, r.Since, start)
				}
				if (r.Err == nil) != (tc.script[i].readErr == nil) || (r.Err == nil && r.Status != fmt.Sprint("status-", i)) {
					t.Errorf("read %d: %+v, want the read's own status or error", i+1, r)
				}
			}
		})
	}
}

// The places are the back-pressure: Reserve waits while every place is
// taken, and a place comes back by Release, by the end of its job, or at
// once when Follow is given a job already followed.
func TestPlacesHoldBackTheCreator(t *testing.T) {
	f := mustNew(t, jobs.Config[*job, string]{Interval: 5 * time.Millisecond, MaxJobs: 2, Logger: quiet,
		Status: okStatus,
		Handle: func(context.Context, *job, jobs.Read[string]) (bool, error) { return true, nil },
	})
	reserve := func() {
		t.Helper()
		if err := reserveWithin(f, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	reserve()
	if !f.Follow("a", &job{}) {
		t.Fatal("a new job was not followed")
	}
	// A replayed creation: the job is followed once, its place given back.
	reserve()
	if f.Follow("a", &job{}) {
		t.Fatal("a job already followed was followed twice")
	}
	reserve()
	f.Release()
	reserve()
	f.Follow("b", &job{})
	if err := reserveWithin(f, 30*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 followed jobs") {
		t.Fatalf("a third place was given (or the wait does not say why): %v", err)
	}
	if st := f.Stats(); st.Following != 2 || st.Peak != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Ended jobs give their places back.
	run(t, f)
	waitEnded(t, f)
	reserve()
	reserve()
	f.Release()
	f.Release()
}

// Followers sharing places (the open jobs of one API key) hold each other
// back: a place a job of one holds is not the other's.
func TestSharedPlacesBoundTheFollowersTogether(t *testing.T) {
	places := jobs.NewPlaces(2)
	var end atomic.Bool
	cfg := jobs.Config[*job, string]{Interval: 5 * time.Millisecond, Places: places, Logger: quiet, Status: okStatus,
		Handle: func(context.Context, *job, jobs.Read[string]) (bool, error) { return end.Load(), nil }}
	a, b := mustNew(t, cfg), mustNew(t, cfg)
	for _, f := range []*jobs.Follower[*job, string]{a, b} {
		if err := reserveWithin(f, time.Second); err != nil {
			t.Fatal(err)
		}
		f.Follow("j", &job{})
		run(t, f)
	}
	if err := reserveWithin(a, 30*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third place was given out of two shared: %v", err)
	}
	if places.Taken() != 2 {
		t.Fatalf("%d places taken, want 2", places.Taken())
	}
	end.Store(true)
	waitEnded(t, a)
	waitEnded(t, b)
	if places.Taken() != 0 {
		t.Fatalf("%d places still taken after every job ended", places.Taken())
	}
}

// A refused credential pauses every read: Ready says why, one probe goes
// out per back-off step however many jobs are due, the jobs are not
// penalised, and the first read that works resumes everything.
func TestPauseProbesOneReadPerStep(t *testing.T) {
	const n, readers = 30, 8
	var refuse atomic.Bool
	refuse.Store(true)
	var inFlight, peakWhilePaused, refused atomic.Int32
	errRefused := fmt.Errorf("GET /jobs/{id}: 401: %w", delivery.ErrUnauthorized)
	f := mustNew(t, jobs.Config[*job, string]{Interval: 2 * time.Millisecond, MaxJobs: n, Readers: readers, Logger: quiet,
		Pause: delivery.Policy{InitialInterval: 20 * time.Millisecond, MaxInterval: 20 * time.Millisecond},
		Status: func(ctx context.Context, _ *job) (string, error) {
			c := inFlight.Add(1)
			defer inFlight.Add(-1)
			if refuse.Load() {
				if c > peakWhilePaused.Load() {
					peakWhilePaused.Store(c)
				}
				// Long enough for Run to take other due jobs meanwhile.
				delivery.Sleep(ctx, 2*time.Millisecond)
				refused.Add(1)
				return "", errRefused
			}
			return "done", nil
		},
		Handle: func(_ context.Context, j *job, r jobs.Read[string]) (bool, error) {
			if r.Err != nil {
				if r.Failures != 0 {
					t.Errorf("job %s penalised for the credential: %d failures", j.id, r.Failures)
				}
				return false, r.Err
			}
			return true, nil
		},
	})
	for i := range n {
		follow(t, f, fmt.Sprint("j-", i), &job{id: fmt.Sprint("j-", i)})
	}
	run(t, f)
	streamstest.WaitFor(t, 5*time.Second, "the pause on /readyz and a few probes", func() (bool, string) {
		ok, why := f.Ready()
		return !ok && strings.Contains(why, "paused: GET /jobs/{id}: 401") && refused.Load() >= 5, why
	})
	// The first reads were out before the pause began (up to readers of
	// them); every read after that is a lone probe.
	probes := refused.Load()
	peakWhilePaused.Store(0)
	streamstest.WaitFor(t, 5*time.Second, "three more probes", func() (bool, string) {
		return refused.Load() >= probes+3, fmt.Sprint(refused.Load())
	})
	if p := peakWhilePaused.Load(); p != 1 {
		t.Fatalf("%d reads at once during the pause, want one probe", p)
	}
	refuse.Store(false)
	waitEnded(t, f)
	if ok, why := f.Ready(); !ok {
		t.Fatalf("not ready after the credential worked: %s", why)
	}
}

// A stop ends Run without handling the reads it interrupts: their jobs stay
// open, counted, for the log line that says what is left.
func TestRunStopsAndKeepsOpenJobs(t *testing.T) {
	reading := make(chan struct{})
	var readingOnce sync.Once
	var handled atomic.Bool
	f := mustNew(t, jobs.Config[*job, string]{Interval: time.Millisecond, MaxJobs: 1, Logger: quiet,
		Status: func(ctx context.Context, _ *job) (string, error) {
			// A read the stop interrupted may be made again before Run
			// returns (the job stays open): say so once.
			readingOnce.Do(func() { close(reading) })
			<-ctx.Done()
			return "", ctx.Err()
		},
		Handle: func(context.Context, *job, jobs.Read[string]) (bool, error) { handled.Store(true); return true, nil },
	})
	follow(t, f, "j", &job{})
	stop := start(t, f)
	<-reading
	if ok, _ := f.Ready(); !ok {
		t.Fatal("not ready while running")
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if handled.Load() {
		t.Fatal("an interrupted read was handled")
	}
	if st := f.Stats(); st.Following != 1 {
		t.Fatalf("following %d after the stop, want the open job", st.Following)
	}
	if ok, why := f.Ready(); ok || why != "not running" {
		t.Fatalf("ready %v (%s) after Run returned", ok, why)
	}
}

func mustNew[J, S any](t *testing.T, cfg jobs.Config[J, S]) *jobs.Follower[J, S] {
	t.Helper()
	f, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// start runs f until stop, which returns what Run returned, failing the
// test when Run does not return within ten seconds of it.
func start[J, S any](t *testing.T, f *jobs.Follower[J, S]) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	return func() error {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
			return nil
		}
	}
}

// run runs f until the test ends.
func run[J, S any](t *testing.T, f *jobs.Follower[J, S]) {
	t.Helper()
	stop := start(t, f)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// follow takes a place for job j and follows it under key.
func follow[J, S any](t *testing.T, f *jobs.Follower[J, S], key string, j J) {
	t.Helper()
	if err := f.Reserve(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.Follow(key, j)
}

func waitEnded[J, S any](t *testing.T, f *jobs.Follower[J, S]) {
	t.Helper()
	streamstest.WaitFor(t, 10*time.Second, "every job ended", func() (bool, string) {
		st := f.Stats()
		return st.Following == 0, fmt.Sprintf("%+v", st)
	})
}

func reserveWithin[J, S any](f *jobs.Follower[J, S], d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return f.Reserve(ctx)
}
