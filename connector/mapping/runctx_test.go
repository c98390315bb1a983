package mapping

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A run that outlasts the time limit ends with ErrTimeout, and the run
// contexts it leaves behind do not end later runs: each of many runs after
// a timeout gives its output.
func TestRunTimeLimit(t *testing.T) {
	p, err := Compile("test", `if .value == "loop" then last(repeat(1)) else .value end`)
	if err != nil {
		t.Fatal(err)
	}
	p.timeout = 50 * time.Millisecond
	for range 3 {
		start := time.Now()
		_, err := p.Run(context.Background(), map[string]any{"value": "loop"})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("a program that loops gave %v, want ErrTimeout", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("the run ended %s after its start, for a limit of %s", took, p.timeout)
		}
		for range 1000 {
			outs, err := p.Run(context.Background(), map[string]any{"value": "x"})
			if err != nil || len(outs) != 1 || string(outs[0]) != `"x"` {
				t.Fatalf("a run after a timeout gave %q, %v", outs, err)
			}
		}
	}
}

// The end of the caller's context ends a run at once, as the caller's
// error (a stop, retried), not as a timeout.
func TestRunEndsWithItsCaller(t *testing.T) {
	p, err := Compile("test", `last(repeat(1))`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, map[string]any{})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Fatalf("a run whose caller stopped gave %v, want context.Canceled", err)
		}
	case <-time.After(Timeout / 2):
		t.Fatal("the run went on after its caller stopped")
	}
	// A caller already stopped: the run does not start.
	if _, err := p.Run(ctx, map[string]any{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a run under a stopped caller gave %v", err)
	}
}
