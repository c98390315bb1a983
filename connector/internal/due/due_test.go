package due

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Items are handled in due order, never before they are due, and never more
// than workers at once.
func TestRunHandlesInDueOrderWithinTheBound(t *testing.T) {
	q := New[int]()
	start := time.Now()
	for i := 9; i >= 0; i-- {
		q.Push(i, start.Add(time.Duration(i)*20*time.Millisecond))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var order []int
	var running, peak atomic.Int32
	done := make(chan struct{})
	go func() {
		q.Run(ctx, 2, nil, func(_ context.Context, v int) {
			if n := running.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			defer running.Add(-1)
			if time.Since(start) < time.Duration(v)*20*time.Millisecond {
				t.Errorf("item %d handled before it was due", v)
			}
			mu.Lock()
			order = append(order, v)
			n := len(order)
			mu.Unlock()
			if n == 10 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not handle every item")
	}
	// Two handlers run at once, so the two in flight may record themselves
	// in either order (a loaded machine delays one); no item may pass one
	// that was due two steps before it.
	for i, v := range order {
		if v < i-1 || v > i+1 {
			t.Fatalf("handled in order %v", order)
		}
	}
	if peak.Load() > 2 {
		t.Fatalf("%d handled at once, want at most 2", peak.Load())
	}
}

// hold keeps every item back while it says so; a push wakes a waiting Run.
func TestRunHoldsAndWakes(t *testing.T) {
	q := New[string]()
	held, _, got := runHeld(t, q, time.Millisecond)
	q.Push("a", time.Now())
	select {
	case v := <-got:
		t.Fatalf("%s handled while held", v)
	case <-time.After(50 * time.Millisecond): // the hold is what is tested: nothing may come
	}
	held.Store(false)
	awaitHandled(t, got, "not handled after the hold ended")
	if q.Len() != 0 {
		t.Fatalf("%d left queued", q.Len())
	}
}

// Wake makes a Run that waits on a long hold look again when the hold
// lifts without a push (a pause ended by a probe).
func TestWakeEndsAHoldWithoutAPush(t *testing.T) {
	q := New[string]()
	q.Push("a", time.Now())
	held, looked, got := runHeld(t, q, time.Hour)
	<-looked // Run now waits out the hour
	held.Store(false)
	q.Wake()
	awaitHandled(t, got, "a woken Run did not look again")
}

// runHeld runs q with one handler until the test ends, holding every item
// back for d at a time while held is true, as it is at first. Each hold is
// told on looked when nobody has taken the last; each item handled comes
// on got.
func runHeld(t *testing.T, q *Queue[string], d time.Duration) (held *atomic.Bool, looked <-chan struct{}, got <-chan string) {
	held = new(atomic.Bool)
	held.Store(true)
	l := make(chan struct{}, 1)
	g := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go q.Run(ctx, 1, func(time.Time) time.Duration {
		if held.Load() {
			select {
			case l <- struct{}{}:
			default:
			}
			return d
		}
		return 0
	}, func(_ context.Context, v string) { g <- v })
	return held, l, g
}

// awaitHandled fails the test with why unless an item comes on got within
// ten seconds.
func awaitHandled(t *testing.T, got <-chan string, why string) {
	t.Helper()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal(why)
	}
}
