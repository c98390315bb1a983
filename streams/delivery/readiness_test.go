package delivery

import "testing"

// Pause reports the flips between running and paused only: records that
// fail with differently worded reasons must not each log a new pause.
func TestReadinessPauseReportsFlipsOnly(t *testing.T) {
	var r Readiness
	r.Running(true)
	steps := []struct {
		reason string
		flip   bool
	}{
		{"a/0@1: unauthorized", true},
		{"a/0@2: unauthorized", false}, // other words, same state
		{"", true},
		{"", false},
		{"x", true},
	}
	for i, s := range steps {
		if got := r.Pause(s.reason); got != s.flip {
			t.Fatalf("step %d Pause(%q) = %v, want %v", i, s.reason, got, s.flip)
		}
	}
	if ok, why := r.Ready(); ok || why != "paused: x" {
		t.Fatalf("Ready = %v %q", ok, why)
	}
}

func TestReadinessProblems(t *testing.T) {
	var r Readiness
	r.Running(true)
	if !r.Problem("dead_letter", "dead-letter topic d: unknown topic") {
		t.Fatal("a new problem is a change")
	}
	if r.Problem("dead_letter", "dead-letter topic d: still unknown") {
		t.Fatal("rewording a problem is not a change")
	}
	r.Problem("stall", "stalled")
	if ok, why := r.Ready(); ok || why != "dead-letter topic d: still unknown; stalled" {
		t.Fatalf("Ready = %v %q", ok, why)
	}
	r.Problem("dead_letter", "")
	r.Problem("stall", "")
	if ok, why := r.Ready(); !ok {
		t.Fatalf("not ready after every problem cleared: %s", why)
	}
}
