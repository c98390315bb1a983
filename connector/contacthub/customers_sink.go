package contacthub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/contactlab/connector/connector/internal/due"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// CustomersOptions configure a CustomersSink. Zero fields take the
// defaults of defaultCustomersOptions.
type CustomersOptions struct {
	// Paths of the customer calls; empty fields take DefaultCustomerPaths.
	Paths CustomerPaths
	// Workers is how many calls the sink makes at once, across customers
	// (one customer never has two). Default 16.
	Workers int
	// ReorderWindow is how long a record that arrives ahead of a lower
	// offset of its partition waits for it (see CustomersSink, Ordering).
	// Default 50ms; negative sends records in arrival order.
	ReorderWindow time.Duration
	// RetryHold is how long, after a call failed with a retryable error,
	// the customer's later records wait for the runtime to hand the failed
	// record back, beyond the answer's Retry-After. It must exceed the
	// pipeline's longest back-off: retry.max (10s by default) plus its
	// jitter of up to half. A record that does not come back in time
	// (dead-lettered as retries_exhausted, or a stop) releases the
	// customer then. Default 30s.
	RetryHold time.Duration
}

// defaultCustomersOptions fills every zero field, in one place.
func defaultCustomersOptions(o CustomersOptions) CustomersOptions {
	o.Paths = o.Paths.withDefaults()
	if o.Workers == 0 {
		o.Workers = 16
	}
	if o.ReorderWindow == 0 {
		o.ReorderWindow = 50 * time.Millisecond
	}
	if o.RetryHold == 0 {
		o.RetryHold = 30 * time.Second
	}
	return o
}

// validate checks every bound from one table and names the option.
func (o CustomersOptions) validate() error {
	var errs []error
	for _, c := range []struct {
		field  string
		bad    bool
		reason string
	}{
		{"workers", o.Workers < 1 || o.Workers > 1024, "must be within 1..1024"},
		{"reorder_window", o.ReorderWindow > 10*time.Second, "must be at most 10s: every hole in a partition's offsets costs it"},
		{"retry_hold", o.RetryHold < 0, "must not be negative"},
	} {
		if c.bad {
			errs = append(errs, fmt.Errorf("contacthub customers: %s: %s", c.field, c.reason))
		}
	}
	if err := o.Paths.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CustomersSink delivers customers topics to Contacthub: each record is a
// schemas.CustomerRecord, an envelope that names its operation:
//
//	{"operation": "create", "customer": {...}}                   Create customer (upsert)
//	{"operation": "patch", "customerId": "<id>", "customer": {...}} Partially modify customer
//	{"operation": "session", "customerId": "<id>", "session": {"value": "..."}} Create customer session
//
// create posts the body under the workspace's MERGE uniqueness policy (the
// only one Contacthub still accepts): a customer matching the entry node's
// unique properties is updated, else created. A record that breaks the
// customer-record schema (nodeId missing, a string over its limit, a
// customer over 64 kB, ...) is rejected as "invalid" with the JSON path of
// each violation, before any call.
//
// # Ordering
//
// A customer's records reach Contacthub in the order they were produced:
// at most one call per customer is in flight, and its later records wait
// behind it in offset order (within a partition; by arrival across
// partitions). The customer is the record's Kafka key, or, for a record
// without one, its customerId; a create without either keeps no order.
// Key customers topics by customer, so that Kafka keeps a customer's
// records in one partition.
//
// Records are handed to Write by several runtime workers at once, so two
// records of a partition can arrive the other way round; a record that
// arrives ahead of a lower offset waits up to ReorderWindow for it, and a
// hole still open then is taken for a gap in the offsets (compaction,
// transaction markers). A call that fails with a retryable error holds its
// customer until the runtime hands the record back (or RetryHold passes),
// so no later record overtakes the failed one.
//
// # Outcomes
//
// Write checks the records, queues them and returns; the sink's workers
// (started in Start) make the calls, and each outcome goes to done as the
// call ends. Errors are classified by connector/httpapi: 401/403 pause the
// pipeline, other 4xx but 408/429 (a 404 for an unknown customer, a 409
// for a session value another customer of the node holds) are rejected,
// 408, 429, 5xx and network errors are retried by the runtime. Drain sends
// every held record at once.
type CustomersSink struct {
	client *CustomersClient
	opts   CustomersOptions
	log    *slog.Logger
	order  *customerOrder
	clock  *due.Queue[timeout]
	calls  atomic.Int64
}

// NewCustomersSink builds the sink on c, the workspace's client (whose
// pace it shares with every other sink of the workspace).
func NewCustomersSink(c *Client, opts CustomersOptions, log *slog.Logger) (*CustomersSink, error) {
	opts = defaultCustomersOptions(opts)
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cc, err := c.Customers(opts.Paths)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	clock := due.New[timeout]()
	return &CustomersSink{client: cc, opts: opts, log: log, clock: clock,
		order: newCustomerOrder(opts.ReorderWindow, opts.RetryHold, clock.Push)}, nil
}

// Start starts the workers and the clock of reorder windows and retry
// holds; they run until the runtime's forced stop.
func (s *CustomersSink) Start(_ context.Context, bg *streams.Background) error {
	s.start(bg.Go)
	return nil
}

// start runs the sink's background work through goFn, the runtime's
// Background.Go (tests pass their own).
func (s *CustomersSink) start(goFn func(name string, fn func(context.Context) error)) {
	for i := range s.opts.Workers {
		goFn("contacthub customers worker "+strconv.Itoa(i), s.work)
	}
	goFn("contacthub customers clock", func(ctx context.Context) error {
		s.clock.Run(ctx, 1, nil, func(_ context.Context, t timeout) { s.order.fire(t) })
		return nil
	})
}

// Sequential implements streams.Sequential: Write only queues, so the
// runtime hands a partition's records over in offset order and the
// reorder window is left for what still comes out of order.
func (*CustomersSink) Sequential() bool { return true }

// Write checks each record and queues it behind its customer's earlier
// records; it never waits for a call.
func (s *CustomersSink) Write(_ context.Context, batch []*streams.Record, done streams.Done) {
	for _, r := range batch {
		op, err := schemas.DecodeCustomerRecord(r.Value)
		if err != nil {
			s.order.pass(r)
			done(r, streams.Reject("invalid", err))
			continue
		}
		s.order.add(&customerCall{rec: r, done: done, op: op, key: orderKey(r, op), pos: posOf(r)})
	}
}

// orderKey is the customer whose order a record keeps: its Kafka key, else
// the customer it names.
func orderKey(r *streams.Record, op *schemas.CustomerRecord) string {
	if len(r.Key) > 0 {
		return string(r.Key)
	}
	return op.CustomerID
}

// Drain sends what the sink holds without waiting for holes to fill.
func (s *CustomersSink) Drain() { s.order.drain() }

// Close ends the sink; the runtime calls it after the background work
// returned, so there is nothing left to stop: records still queued have no
// outcome, stay uncommitted and are read again. It is safe to call twice.
func (s *CustomersSink) Close() error { return nil }

// CustomersStats are what a CustomersSink did and holds.
type CustomersStats struct {
	// Calls counts the calls made, failed ones included.
	Calls int64
	OrderStats
}

// Stats returns the sink's counts.
func (s *CustomersSink) Stats() CustomersStats {
	return CustomersStats{Calls: s.calls.Load(), OrderStats: s.order.snapshot()}
}

// work is one worker: it takes the next call whose customer is free, makes
// it, and reports its outcome, until ctx ends.
func (s *CustomersSink) work(ctx context.Context) error {
	for {
		line, c, ok := s.order.take()
		if !ok {
			select {
			case <-s.order.wake:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		s.order.finish(line, c, s.call(ctx, c))
	}
}

// call makes one record's call. Errors keep the client's classification
// and gain the operation and customer.
func (s *CustomersSink) call(ctx context.Context, c *customerCall) error {
	if err := s.client.EnsurePace(ctx); err != nil {
		return fmt.Errorf("contacthub customers: %w", err) // ctx ended
	}
	s.calls.Add(1)
	op := c.op
	var err error
	switch op.Operation {
	case schemas.CustomerOpCreate:
		_, err = s.client.Create(ctx, op.Customer)
	case schemas.CustomerOpPatch:
		_, err = s.client.Patch(ctx, op.CustomerID, op.Customer)
	case schemas.CustomerOpSession:
		_, err = s.client.CreateSession(ctx, op.CustomerID, op.Session.Value)
	default:
		// DecodeCustomerRecord admits no other operation.
		return streams.Reject("invalid", fmt.Errorf("contacthub customers: unknown operation %q", op.Operation))
	}
	if err != nil {
		who := op.CustomerID
		if who == "" {
			who = c.key
		}
		return fmt.Errorf("contacthub customers: %s %s: %w", op.Operation, who, err)
	}
	return nil
}
