package delivery

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Readiness is what a unit of the service reports on /readyz: whether it
// runs, why it is paused (a credential the API refuses), and any other
// problem that makes it not ready (a dead-letter topic it cannot write, a
// stall). The zero value is "not running". It is safe for concurrent use.
type Readiness struct {
	running atomic.Bool
	// pausedFlag mirrors paused != "" so that resuming an unpaused unit,
	// which every delivered record asks for, takes no lock.
	pausedFlag atomic.Bool
	mu         sync.Mutex
	paused     string
	problems   map[string]string
}

// Running marks the unit running or stopped.
func (r *Readiness) Running(on bool) { r.running.Store(on) }

// Pause sets why the unit is paused; "" resumes it. It reports whether the
// unit went from running to paused or back (not whether the words of the
// reason changed), so that callers log and count each pause and each
// resume once, however many records say so.
func (r *Readiness) Pause(reason string) (changed bool) {
	if reason == "" && !r.pausedFlag.Load() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed = (r.paused == "") != (reason == "")
	r.paused = reason
	r.pausedFlag.Store(reason != "")
	return changed
}

// Paused reports why the unit is paused, or "".
func (r *Readiness) Paused() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

// Problem sets (reason != "") or clears (reason == "") a named problem
// that makes the unit not ready, such as "dead_letter". It reports whether
// the problem appeared or went away.
func (r *Readiness) Problem(name, reason string) (changed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.problems[name]
	if reason == "" {
		delete(r.problems, name)
		return had
	}
	if r.problems == nil {
		r.problems = map[string]string{}
	}
	r.problems[name] = reason
	return !had || old == ""
}

// Ready reports whether the unit runs, is not paused and has no problem;
// when not, the reason says why.
func (r *Readiness) Ready() (bool, string) {
	if !r.running.Load() {
		return false, "not running"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused != "" {
		return false, "paused: " + r.paused
	}
	if len(r.problems) > 0 {
		names := make([]string, 0, len(r.problems))
		for n := range r.problems {
			names = append(names, n)
		}
		sort.Strings(names)
		why := ""
		for i, n := range names {
			if i > 0 {
				why += "; "
			}
			why += r.problems[n]
		}
		return false, why
	}
	return true, ""
}
