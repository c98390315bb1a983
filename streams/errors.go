package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

	// ErrClosed is returned by components used after Close.
	ErrClosed = errors.New("closed")
)

// Reject wraps err so that it Is ErrRejected, with reason as the low-cardinality
// dead-letter class (for example "invalid", "rejected", "too_large").
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

// RetryAfter wraps err with a minimum wait before the next attempt.
func RetryAfter(d time.Duration, err error) error { return &RetryAfterError{Delay: d, Err: err} }

// BatchError reports a per-record outcome for a batch passed to Sink.Write.
// Errs is index-aligned with the batch: nil means that record was delivered.
type BatchError struct {
	Errs []error
}

func (e *BatchError) Error() string {
	n := 0
	var first error
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("%d of %d records failed, first: %v", n, len(e.Errs), first)
}

// Unwrap exposes the per-record errors to errors.Is/As.
func (e *BatchError) Unwrap() []error { return e.Errs }

// EachRecord delivers the records of batch one after the other with deliver
// and reports their outcomes as Sink.Write does: nil when every one was
// delivered, else a *BatchError. It is Write for sinks whose API takes one
// record per call.
func EachRecord(ctx context.Context, batch []*Record, deliver func(context.Context, *Record) error) error {
	var errs []error
	for i, r := range batch {
		err := deliver(ctx, r)
		if err != nil && errs == nil {
			errs = make([]error, len(batch))
		}
		if errs != nil {
			errs[i] = err
		}
	}
	if errs == nil {
		return nil
	}
	return &BatchError{Errs: errs}
}

// httpStatuser is implemented by API errors that carry an HTTP status; the
// dead-letter headers record it.
type httpStatuser interface{ HTTPStatus() int }

// action is what the runtime does with one record's error.
type action int

const (
	actDelivered action = iota
	actRetry
	actPause
	actDeadLetter
)

// classify is the single place that maps an error to what the runtime does.
// API clients make their errors answer errors.Is(ErrRejected/ErrUnauthorized)
// from the HTTP status (see connector/httpapi), so no string matching happens.
func classify(err error) action {
	switch {
	case err == nil:
		return actDelivered
	case errors.Is(err, ErrRejected):
		return actDeadLetter
	case errors.Is(err, ErrUnauthorized):
		return actPause
	default:
		return actRetry
	}
}

// reasonOf is the dead-letter reason class of err.
func reasonOf(err error) string {
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

// statusOf is the HTTP status carried by err, or 0.
func statusOf(err error) int {
	var hs httpStatuser
	if errors.As(err, &hs) {
		return hs.HTTPStatus()
	}
	return 0
}

// retryDelayer is implemented by errors that carry a server's wait hint
// (an HTTP Retry-After); the runtime waits at least that long.
type retryDelayer interface{ RetryDelay() time.Duration }

// RetryDelay lets RetryAfterError be found like any other delay hint.
func (e *RetryAfterError) RetryDelay() time.Duration { return e.Delay }

// RetryDelayOf is the server's wait hint (an HTTP Retry-After) in err's
// tree, or 0: a retry waits at least that long.
func RetryDelayOf(err error) time.Duration {
	var rd retryDelayer
	if errors.As(err, &rd) {
		return rd.RetryDelay()
	}
	return 0
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
