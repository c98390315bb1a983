package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/internal/jobs"
	"github.com/contactlab/connector/streams/delivery"
	"github.com/contactlab/connector/streams/streamstest"
)

// Whatever its reads do, a job is handed to Handle as timed out within two
// intervals of its timeout, so no job holds a place long past it: not when
// a pause holds every read back (the EnableNow monitor's slots, a UPS job
// whose status cannot be read), not when its reads fail and back off for
// longer than the timeout, not when a read hangs.
func TestTimeoutIsKeptWhateverTheReadsDo(t *testing.T) {
	const interval, timeout = 20 * time.Millisecond, 150 * time.Millisecond
	errRefused := fmt.Errorf("GET /jobs/{id}: 401: %w", delivery.ErrUnauthorized)
	errDown := delivery.RetryAfter(time.Hour, errors.New("GET /jobs/{id}: 503"))
	cases := []struct {
		name   string
		status func(ctx context.Context) (string, error)
		// wantErr: the timed-out read's error, when it must be one.
		wantErr error
	}{
		{"reads paused on a refused credential", func(context.Context) (string, error) { return "", errRefused }, jobs.ErrNotRead},
		{"reads backing off for an hour", func(context.Context) (string, error) { return "", errDown }, nil},
		{"a read that hangs", func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() }, nil},
		{"a status word nobody knows", func(context.Context) (string, error) { return "SOMETHING_ELSE", nil }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var timedOut *jobs.Read[string]
			var endedAt atomic.Int64
			f := mustNew(t, jobs.Config[*job, string]{Interval: interval, Timeout: timeout, MaxJobs: 1, Logger: quiet,
				Pause:  delivery.Policy{InitialInterval: time.Hour, MaxInterval: time.Hour},
				Status: func(ctx context.Context, _ *job) (string, error) { return tc.status(ctx) },
				Handle: func(_ context.Context, _ *job, r jobs.Read[string]) (bool, error) {
					if !r.TimedOut {
						// Not ended, whatever the read said: a failure backs
						// off, a word nobody knows is read again.
						return false, r.Err
					}
					mu.Lock()
					defer mu.Unlock()
					timedOut = &r
					return true, nil
				},
				Ended: func(*job) { endedAt.Store(time.Now().UnixNano()) },
			})
			run(t, f)
			if err := f.Reserve(t.Context()); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			f.Follow("j", &job{})
			waitEnded(t, f)
			took := time.Duration(endedAt.Load() - start.UnixNano())
			// The bound is loose for a loaded machine: without the
			// timeout kept, these jobs would be held for an hour.
			if took < timeout || took > timeout+2*interval+2*time.Second {
				t.Fatalf("the job ended %s after Follow; want its timeout %s, at most two intervals and some scheduling later", took, timeout)
			}
			mu.Lock()
			defer mu.Unlock()
			if timedOut == nil || (tc.wantErr != nil && !errors.Is(timedOut.Err, tc.wantErr)) {
				t.Fatalf("timed-out read %+v, want one with %v", timedOut, tc.wantErr)
			}
			// Its place is free: the one place can be taken again.
			if err := reserveWithin(f, time.Second); err != nil {
				t.Fatalf("place not freed at the timeout: %v", err)
			}
		})
	}
}

// Ended runs after the place is free, so whoever sees what it does sees the
// job closed; Abandon gives back the places of the jobs a stop left open,
// which shared places need, and Ended never runs for them.
func TestEndedAndAbandon(t *testing.T) {
	places := jobs.NewPlaces(2)
	var freeWhenEnded atomic.Int32
	var ended atomic.Int32
	var end atomic.Bool
	f := mustNew(t, jobs.Config[*job, string]{Interval: 5 * time.Millisecond, Places: places, Logger: quiet, Status: okStatus,
		Handle: func(_ context.Context, j *job, _ jobs.Read[string]) (bool, error) {
			return end.Load() && j.id == "a", nil
		},
		Ended: func(*job) {
			freeWhenEnded.Store(int32(places.Cap() - places.Taken()))
			ended.Add(1)
		},
	})
	for _, id := range []string{"a", "b"} {
		follow(t, f, id, &job{id: id})
	}
	stop := start(t, f)
	end.Store(true)
	streamstest.WaitFor(t, 10*time.Second, "job a ended", func() (bool, string) { return ended.Load() != 0, "" })
	if freeWhenEnded.Load() != 1 {
		t.Fatalf("%d places free when Ended ran, want a's", freeWhenEnded.Load())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := f.Abandon(); n != 1 || places.Taken() != 0 || f.Stats().Following != 0 {
		t.Fatalf("abandoned %d (want b), places taken %d, following %d", n, places.Taken(), f.Stats().Following)
	}
	if ended.Load() != 1 {
		t.Fatalf("Ended ran %d times, want once (a)", ended.Load())
	}
}
