package ups

import (
	"strconv"
	"sync"
	"time"
)

// recordLimiter is the throttling of the reference ("up to 1000 user ID
// updates per second"): a token bucket counted in records, holding one
// second's worth. It is written here rather than taken from x/time/rate
// because a request must be refused whole, with the wait until it would
// fit, and because the stand-in's clock is replaceable.
//
// One bucket serves the whole Server: it answers a single apiKey, and the
// reference counts updates per apiKey across the four collections.
type recordLimiter struct {
	mu sync.Mutex
	// rate is in records per second and is also the bucket size; 0 means
	// unlimited.
	rate   float64
	tokens float64
	last   time.Time
}

func (l *recordLimiter) setRate(perSecond int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill(now)
	if l.rate == 0 {
		// Coming from unlimited, the client has used nothing yet.
		l.tokens = float64(perSecond)
	}
	l.rate = float64(perSecond)
	l.tokens = min(l.tokens, l.rate)
}

// take spends n records, or reports how long until they would be available.
// A request larger than the bucket passes when the bucket is full and leaves
// it in debt: refusing it for ever would only stall the client, while the
// debt still holds the average to the rate.
func (l *recordLimiter) take(n int, now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait, ok = l.wait(n, now); ok && l.rate != 0 {
		l.tokens -= float64(n)
	}
	return wait, ok
}

// fits reports, without spending anything, whether n records would be
// taken now, or how long until they would: a request that cannot be taken
// is refused before its records are read.
func (l *recordLimiter) fits(n int, now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wait(n, now)
}

// wait is how long until n records could be taken (ok: now), under l.mu.
func (l *recordLimiter) wait(n int, now time.Time) (time.Duration, bool) {
	if l.rate == 0 {
		return 0, true
	}
	l.refill(now)
	need := min(float64(n), l.rate)
	if l.tokens >= need {
		return 0, true
	}
	return time.Duration((need - l.tokens) / l.rate * float64(time.Second)), false
}

func (l *recordLimiter) refill(now time.Time) {
	if d := now.Sub(l.last); d > 0 {
		l.tokens = min(l.rate, l.tokens+d.Seconds()*l.rate)
	}
	// A clock that steps back (a test's, or the wall clock without a
	// monotonic reading) neither refills nor drains the bucket.
	if now.After(l.last) {
		l.last = now
	}
}

// retryAfterSeconds is the Retry-After value for a wait: whole seconds,
// rounded up, at least 1, because a client told 0 would retry at once.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}
