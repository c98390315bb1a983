package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy is the one retry policy of the connector: exponential back-off
// with jitter from InitialInterval up to MaxInterval between attempts, waiting at least a
// server's hint (RetryDelayOf), for at most MaxElapsed of real time. Every
// loop that retries (pipelines, the source, job following, token refresh,
// topic creation) uses it, so "how long do we keep trying" has one answer.
type Policy struct {
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// MaxElapsed is the budget in real elapsed time since the first
	// failure, counting the time spent in calls as well as the waits
	// between them; 0 retries forever.
	MaxElapsed time.Duration
}

// Forever is a Policy that never gives up, for loops whose only way out is
// their context (source polling, topic creation at start).
func Forever(initial, max time.Duration) Policy {
	return Policy{InitialInterval: initial, MaxInterval: max}
}

// withDefaults fills a zero InitialInterval or MaxInterval so that a zero Policy still
// backs off instead of spinning.
func (p Policy) withDefaults() Policy {
	if p.InitialInterval <= 0 {
		p.InitialInterval = 100 * time.Millisecond
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = 10 * time.Second
	}
	if p.MaxInterval < p.InitialInterval {
		p.MaxInterval = p.InitialInterval
	}
	return p
}

// jitter is the randomisation factor: a wait of d is drawn from
// [d(1-jitter), d(1+jitter)], so that many records failing together do not
// come back together.
const jitter = 0.5

// Delay is the wait after the failures-th consecutive failure (1 for the
// first), at least hint.
func (p Policy) Delay(failures int, hint time.Duration) time.Duration {
	p = p.withDefaults()
	d := p.InitialInterval
	for i := 1; i < failures && d < p.MaxInterval; i++ {
		d = d * 3 / 2
	}
	d = min(d, p.MaxInterval)
	d = time.Duration(float64(d) * (1 - jitter + 2*jitter*rand.Float64()))
	return max(d, hint)
}

// Exhausted reports whether retrying that began at since and would wait
// another wait overruns the budget.
func (p Policy) Exhausted(since time.Time, wait time.Duration) bool {
	return p.MaxElapsed > 0 && !since.IsZero() && time.Since(since)+wait > p.MaxElapsed
}

// Retrier follows the attempts of one operation under a Policy. It is not
// safe for concurrent use.
type Retrier struct {
	p        Policy
	since    time.Time
	failures int
}

// Start begins following an operation.
func (p Policy) Start() *Retrier { return &Retrier{p: p} }

// Next records a failure with err and returns how long to wait before the
// next attempt, or ok=false when that wait would overrun the budget.
func (r *Retrier) Next(err error) (wait time.Duration, ok bool) {
	if r.since.IsZero() {
		r.since = time.Now()
	}
	r.failures++
	wait = r.p.Delay(r.failures, RetryDelayOf(err))
	return wait, !r.p.Exhausted(r.since, wait)
}

// Failures is how many failures in a row were recorded since the last Reset.
func (r *Retrier) Failures() int { return r.failures }

// Reset forgets the failures: the operation succeeded.
func (r *Retrier) Reset() { r.since, r.failures = time.Time{}, 0 }

// ExhaustedError is returned by Wait when the budget ran out; it wraps the
// last failure.
type ExhaustedError struct {
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts over %s: %v", e.Attempts, e.Elapsed.Round(time.Millisecond), e.Err)
}
func (e *ExhaustedError) Unwrap() error { return e.Err }

// Wait records a failure with err and sleeps the back-off. It returns nil
// when the caller should try again, ctx's error when ctx ended, or an
// *ExhaustedError when the budget ran out.
func (r *Retrier) Wait(ctx context.Context, err error) error {
	d, ok := r.Next(err)
	if !ok {
		return &ExhaustedError{Attempts: r.failures, Elapsed: time.Since(r.since), Err: err}
	}
	if !Sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}
