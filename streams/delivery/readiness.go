package delivery

import (
	"sync"
	"sync/atomic"
)

// Readiness is what a unit of the service reports on /readyz: whether it
// runs, and why it is paused (a credential the API refuses). The zero value
// is "not running". It is safe for concurrent use.
type Readiness struct {
	running atomic.Bool
	mu      sync.Mutex
	paused  string
}

// Running marks the unit running or stopped.
func (r *Readiness) Running(on bool) { r.running.Store(on) }

// Pause sets why the unit is paused; "" resumes it. It reports whether the
// reason changed, so callers log and count each pause and resume once.
func (r *Readiness) Pause(reason string) (changed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed = r.paused != reason
	r.paused = reason
	return changed
}

// Paused reports why the unit is paused, or "".
func (r *Readiness) Paused() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

// Ready reports whether the unit runs and is not paused; when not, the
// reason says why.
func (r *Readiness) Ready() (bool, string) {
	if !r.running.Load() {
		return false, "not running"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused != "" {
		return false, "paused: " + r.paused
	}
	return true, ""
}
