package testkit

import (
	"context"
	"errors"
	"testing"
)

// stop cancels run, returns what it returned, and returns it again when
// called twice; a run nobody stopped is stopped when the test ends.
func TestRunStopsOnceAndAtTheEnd(t *testing.T) {
	errStopped := errors.New("stopped")
	var calls int
	stop := Run(t, func(ctx context.Context) error {
		calls++
		<-ctx.Done()
		return errStopped
	})
	for i := range 2 {
		if err := stop(); !errors.Is(err, errStopped) {
			t.Fatalf("stop #%d returned %v, want %v", i+1, err, errStopped)
		}
	}
	if calls != 1 {
		t.Fatalf("run ran %d times", calls)
	}

	ended := make(chan struct{})
	t.Run("unstopped", func(t *testing.T) {
		Run(t, func(ctx context.Context) error {
			<-ctx.Done()
			close(ended)
			return nil
		})
	})
	select {
	case <-ended:
	default:
		t.Fatal("the run of a test that ended was not stopped")
	}
}
