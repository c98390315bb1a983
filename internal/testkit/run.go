package testkit

import (
	"context"
	"testing"
)

// Run runs run (a unit's or a service's Run) in a goroutine until the test
// ends or stop is called, whichever comes first. stop cancels run's
// context, waits for it to return and returns what it returned; calling it
// again returns the same.
func Run(t testing.TB, run func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			cancel()
			err = <-done
			stopped = true
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}
