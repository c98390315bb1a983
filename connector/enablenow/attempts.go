package enablenow

import (
	"sync"
	"time"
)

// attempts remembers, per idempotency key, what the sink needs across the
// attempts of one record in this process:
//
//   - when its first attempt began, so that no attempt POSTs it once the
//     API may have forgotten its key: the window is counted in real time
//     from that first attempt, paused time included (the runtime's retry
//     budget leaves paused time out, and a credential refused for a day
//     must not let a retry create a second job);
//   - whether a POST went out, since one that never did may go at any time;
//   - the job its creation answered (any 2xx), so that a record whose
//     result could not be published is published again without a second
//     POST.
//
// An entry ends with the record's final outcome from the sink (delivered
// or rejected). One the runtime gave up on (retries exhausted) is dropped
// by a sweep once its window has passed: from then on its record could not
// be POSTed anyway, and one that comes back (Attempts above 1, no entry) is
// treated as past its window. Records read again after a restart start afresh: the
// idempotency key still covers them within the API's window.
type attempts struct {
	window time.Duration // the API's window, less the margin of one request
	now    func() time.Time

	mu    sync.Mutex
	byKey map[string]*attempt
	// pruneAt is the size at which the entries past their window are
	// swept; it doubles with what is left, so a sweep costs O(1) per entry
	// added, and entries that ended cost nothing.
	pruneAt int
}

// pruneFloor is the size under which no sweep is worth it: the records in
// flight of one pipeline are about that many.
const pruneFloor = 1024

// attempt is what is known of one record's attempts; its fields are
// guarded by attempts.mu.
type attempt struct {
	key     string
	first   time.Time
	posted  bool
	created *JobResult
}

// newAttempts keeps entries for window less margin (the longest one
// request may take to reach the API, which counts its window from when it
// received the first).
func newAttempts(window, margin time.Duration) *attempts {
	return &attempts{window: window - min(margin, window/10), now: time.Now, byKey: make(map[string]*attempt), pruneAt: pruneFloor}
}

// begin returns the entry of key for an attempt of a record on its nth
// attempt in this process; ok is false when the record came back after its
// entry was dropped, i.e. past its window.
func (a *attempts) begin(key string, nth int) (*attempt, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.prune(now)
	if at, ok := a.byKey[key]; ok {
		return at, true
	}
	if nth > 1 {
		return nil, false
	}
	at := &attempt{key: key, first: now}
	a.byKey[key] = at
	return at, true
}

// mayPost reports whether at's record may be POSTed now, and marks it
// posted when it may: never after its window, unless no POST went out yet.
func (a *attempts) mayPost(at *attempt) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if at.posted && !a.now().Before(at.first.Add(a.window)) {
		return false
	}
	at.posted = true
	return true
}

// created remembers the job a creation answered, for a retry to publish.
func (a *attempts) remember(at *attempt, r JobResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at.created = &r
}

// answered is the job a creation of at's record answered, if any.
func (a *attempts) answered(at *attempt) (JobResult, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if at.created == nil {
		return JobResult{}, false
	}
	return *at.created, true
}

// done forgets at: its record has its final outcome.
func (a *attempts) done(at *attempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byKey[at.key] == at {
		delete(a.byKey, at.key)
	}
}

// prune drops the entries whose window has passed, when there are enough
// to be worth a sweep.
func (a *attempts) prune(now time.Time) {
	if len(a.byKey) < a.pruneAt {
		return
	}
	for key, at := range a.byKey {
		if !now.Before(at.first.Add(a.window)) {
			delete(a.byKey, key)
		}
	}
	a.pruneAt = max(pruneFloor, 2*len(a.byKey))
}

// len is how many records are remembered, for tests.
func (a *attempts) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byKey)
}
