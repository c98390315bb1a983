package streams

import "testing"

func TestReadiness(t *testing.T) {
	var r Readiness
	if ok, why := r.Ready(); ok || why != "not running" {
		t.Fatalf("zero value: %v %q", ok, why)
	}
	r.Running(true)
	if ok, _ := r.Ready(); !ok {
		t.Fatal("running, not ready")
	}
	if !r.Pause("HTTP 401") || r.Pause("HTTP 401") {
		t.Fatal("Pause must report a change once")
	}
	if ok, why := r.Ready(); ok || why != "paused: HTTP 401" {
		t.Fatalf("paused: %v %q", ok, why)
	}
	if !r.Pause("") {
		t.Fatal("resume must report a change")
	}
	if ok, _ := r.Ready(); !ok {
		t.Fatal("resumed, not ready")
	}
}
