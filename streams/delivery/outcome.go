package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrRejected marks a failure that retrying cannot fix (bad input, a 4xx
	// other than 401/403/408/429). The runtime dead-letters the record.
	ErrRejected = errors.New("rejected")

	// ErrUnauthorized marks a credential failure (401/403). The runtime pauses
	// the pipeline and retries with back-off until it works; it never
	// dead-letters on this error, because the record itself is fine.
	ErrUnauthorized = errors.New("unauthorized")
)

// Reject wraps err so that it Is ErrRejected, with reason as the
// low-cardinality dead-letter class (for example "invalid", "rejected",
// "too_large").
func Reject(reason string, err error) error {
	return &RejectError{Reason: reason, Err: err}
}

// RejectError is a non-retryable failure with a dead-letter reason class.
type RejectError struct {
	Reason string
	Err    error
}

func (e *RejectError) Error() string        { return e.Err.Error() }
func (e *RejectError) Unwrap() error        { return e.Err }
func (e *RejectError) Is(target error) bool { return target == ErrRejected }

// RetryAfterError asks the runtime to wait at least Delay before the next
// attempt (an HTTP Retry-After, for example).
type RetryAfterError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.Delay)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryDelay lets RetryAfterError be found like any other delay hint.
func (e *RetryAfterError) RetryDelay() time.Duration { return e.Delay }

// RetryAfter wraps err with a minimum wait before the next attempt.
func RetryAfter(d time.Duration, err error) error { return &RetryAfterError{Delay: d, Err: err} }

// retryDelayer is implemented by errors that carry a server's wait hint
// (an HTTP Retry-After); the runtime waits at least that long.
type retryDelayer interface{ RetryDelay() time.Duration }

// RetryDelayOf is the server's wait hint (an HTTP Retry-After) in err's
// tree, or 0: a retry waits at least that long.
func RetryDelayOf(err error) time.Duration {
	var rd retryDelayer
	if errors.As(err, &rd) {
		return rd.RetryDelay()
	}
	return 0
}

// Action is what the runtime does with one attempt's outcome.
type Action int

const (
	// Delivered: the destination has the record; it is acknowledged.
	Delivered Action = iota
	// Retry: the attempt failed for a reason that may pass (5xx, 408, 429,
	// timeouts, network errors); the record is tried again after a back-off
	// of at least RetryDelayOf, until the Policy's budget runs out.
	Retry
	// Pause: the credential was refused (ErrUnauthorized); the unit is not
	// ready and the record is tried again, never dead-lettered for it.
	Pause
	// DeadLetter: the record itself cannot be delivered (ErrRejected); it
	// goes to the dead-letter topic with ReasonOf(err).
	DeadLetter
)

func (a Action) String() string {
	switch a {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Pause:
		return "pause"
	case DeadLetter:
		return "dead_letter"
	}
	return "unknown"
}

// Classify is the single place that maps an error to what the runtime does.
// API clients make their errors answer errors.Is(ErrRejected /
// ErrUnauthorized) from the HTTP status (see connector/httpapi), so no
// string matching happens anywhere.
func Classify(err error) Action {
	switch {
	case err == nil:
		return Delivered
	case errors.Is(err, ErrRejected):
		return DeadLetter
	case errors.Is(err, ErrUnauthorized):
		return Pause
	default:
		return Retry
	}
}

// ReasonOf is the dead-letter reason class of err: a RejectError's Reason,
// or what an error's DeadLetterReason method says, else "rejected".
func ReasonOf(err error) string {
	var re *RejectError
	if errors.As(err, &re) && re.Reason != "" {
		return re.Reason
	}
	var rs interface{ DeadLetterReason() string }
	if errors.As(err, &rs) {
		return rs.DeadLetterReason()
	}
	return "rejected"
}

// StatusOf is the HTTP status carried by err (an error with an HTTPStatus
// method in its tree), or 0.
func StatusOf(err error) int {
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) {
		return hs.HTTPStatus()
	}
	return 0
}

// Sleep waits d or until ctx ends; it reports whether d passed. Every wait
// between attempts (back-off, polling) goes through it, so a stop is never
// held up by a sleeping retry.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
