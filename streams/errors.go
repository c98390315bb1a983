package streams

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/contactlab/connector/streams/delivery"
)

// The outcome vocabulary lives in the leaf package delivery, so that API
// clients need not import the Kafka runtime; these names are kept so sinks
// and tests read as before.
var (
	// ErrRejected: the runtime dead-letters the record (see delivery).
	ErrRejected = delivery.ErrRejected
	// ErrUnauthorized: the runtime pauses the pipeline and retries.
	ErrUnauthorized = delivery.ErrUnauthorized

	// ErrClosed is returned by components used after Close.
	ErrClosed = errors.New("closed")

	// ErrFiltered is the outcome a sink reports through Done for a record
	// it chose not to deliver (a mapping gave no output for it): the
	// runtime acknowledges it, so it is committed in order, and counts it
	// as filtered (Counts.Filtered, connector_pipeline_records_filtered_total),
	// neither delivered nor dead-lettered.
	ErrFiltered = errors.New("filtered")
)

type (
	// RejectError is delivery.RejectError.
	RejectError = delivery.RejectError
	// RetryAfterError is delivery.RetryAfterError.
	RetryAfterError = delivery.RetryAfterError
	// Readiness is delivery.Readiness.
	Readiness = delivery.Readiness
	// RetryPolicy is the one retry policy, delivery.Policy.
	RetryPolicy = delivery.Policy
)

// Reject wraps err so that it Is ErrRejected with reason as the dead-letter
// class (delivery.Reject).
func Reject(reason string, err error) error { return delivery.Reject(reason, err) }

// RetryAfter wraps err with a minimum wait before the next attempt
// (delivery.RetryAfter).
func RetryAfter(d time.Duration, err error) error { return delivery.RetryAfter(d, err) }

// RetryDelayOf is the server's wait hint in err's tree (delivery.RetryDelayOf).
var RetryDelayOf = delivery.RetryDelayOf

// Sleep waits d or until ctx ends (delivery.Sleep).
var Sleep = delivery.Sleep

// BatchError reports a per-record outcome for a batch given to a
// BlockingSink. Errs is index-aligned with the batch: nil means that record
// was delivered.
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

// splitErr turns a BlockingSink's result into one error per record.
func splitErr(err error, n int) []error {
	errs := make([]error, n)
	if err == nil {
		return errs
	}
	var be *BatchError
	if errors.As(err, &be) && len(be.Errs) == n {
		return be.Errs
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
