package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Sink is the one contract between the runtime and a destination. A sink
// turns records into API calls and reports, per record, what happened; the
// runtime (Pipeline) owns every goroutine, the in-flight bound, ordering of
// commits, retries with back-off, dead-lettering, pausing and the
// two-phase stop.
//
// Lifecycle, in the order the runtime calls it:
//
//  1. Start, once, before the first Write. Background work the sink needs
//     (a request sender, a job follower) is started through bg.Go, never
//     with a bare go statement, so that the runtime stops and waits for it.
//  2. Write, from PipelineConfig.Concurrency goroutines at once (one at a
//     time, in fetch order, for a Sequential sink). It may return before
//     the outcomes are known; see Done.
//  3. Drain, once, when a graceful stop begins: no Write follows. The sink
//     sends what it holds without waiting for more (no linger). The runtime
//     keeps handing back retries and waits, up to ShutdownGrace, for every
//     outstanding outcome.
//  4. Close, once, after the grace (or at once on an abort): the context of
//     bg has been cancelled and every bg function has returned. Outcomes
//     that arrive after Close are ignored; their records stay uncommitted
//     and are read again by the next consumer.
type Sink interface {
	Start(ctx context.Context, bg *Background) error
	// Write hands batch over. For each record the sink calls done exactly
	// once, before or after Write returns, from any goroutine; done never
	// blocks. A Write that holds a worker until its outcomes are known is
	// allowed (one request per record), but a sink whose outcomes depend on
	// later work (a batch that fills, a job that ends) must return at once,
	// so that no worker waits on another.
	Write(ctx context.Context, batch []*Record, done Done)
	Drain()
	Close() error
}

// Sequential is implemented by a sink that keeps an order among the
// records it is handed (a user's or a customer's updates, decided by
// offset) and whose Write returns at once, before the outcomes are known.
// When Sequential returns true, the runtime calls Write one at a time, in
// the order it fetched the records: a Write begins once the one before it
// returned. Without it, concurrent workers may call Write out of order, and
// a record can reach the sink after a newer one of its partition was
// already delivered and forgotten, then overwrite it. Records handed back
// for a retry come again later, out of order; the sink deals with those.
// At a rebalance, the member waits for the records it fetched to finish
// before it rejoins the group (rejoin.go), so that a partition's new owner
// sends nothing while its old owner still does. A sink that wraps another
// (a mapping) forwards the wrapped sink's answer.
type Sequential interface {
	Sequential() bool
}

// IsSequential reports whether the runtime serializes s's Writes.
func IsSequential(s Sink) bool {
	q, ok := s.(Sequential)
	return ok && q.Sequential()
}

// Done reports one record's outcome; err is classified by
// delivery.Classify:
//   - nil: delivered; the record is acknowledged (committed in order).
//   - an error that Is ErrRejected: dead-lettered with its reason, then
//     acknowledged.
//   - ErrFiltered: the sink chose not to deliver it (its mapping gave no
//     output); acknowledged and counted as filtered.
//   - an error that Is ErrUnauthorized: the pipeline pauses (Ready says
//     why) and the record is tried again with back-off, never dead-lettered
//     for it.
//   - any other error: tried again after a back-off of at least its
//     RetryDelayOf, until the RetryPolicy's budget of real time runs out;
//     then dead-lettered as "retries_exhausted".
type Done func(r *Record, err error)

// Background runs a sink's long-lived work on behalf of the runtime. The
// context each function gets ends at the forced stop (after the grace of a
// graceful stop); a function that returns an error other than the
// context's fails the pipeline, as one failing node stops a Conduit
// pipeline.
type Background struct {
	ctx  context.Context
	wg   sync.WaitGroup
	fail func(error)
}

func newBackground(ctx context.Context, fail func(error)) *Background {
	return &Background{ctx: ctx, fail: fail}
}

// Go runs fn in a goroutine the runtime waits for before Sink.Close.
func (b *Background) Go(name string, fn func(ctx context.Context) error) {
	b.wg.Go(func() {
		if err := fn(b.ctx); err != nil && b.ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			b.fail(fmt.Errorf("%s: %w", name, err))
		}
	})
}

// Context is the context background work runs under; it ends at the
// forced stop.
func (b *Background) Context() context.Context { return b.ctx }

func (b *Background) wait() { b.wg.Wait() }

// NopLifecycle gives a sink with no background work and nothing to drain
// its Start, Drain and Close; embed it.
type NopLifecycle struct{}

// Start does nothing.
func (NopLifecycle) Start(context.Context, *Background) error { return nil }

// Drain does nothing.
func (NopLifecycle) Drain() {}

// Close does nothing.
func (NopLifecycle) Close() error { return nil }

// PerRecord is a Sink for APIs that take one record per call: deliver runs
// on the runtime's workers, one record after another within a batch, and
// its error is the record's outcome. Concurrency is the runtime's.
func PerRecord(deliver func(ctx context.Context, r *Record) error) Sink {
	return perRecord(deliver)
}

type perRecord func(ctx context.Context, r *Record) error

func (perRecord) Start(context.Context, *Background) error { return nil }
func (perRecord) Drain()                                   {}
func (perRecord) Close() error                             { return nil }

func (f perRecord) Write(ctx context.Context, batch []*Record, done Done) {
	for _, r := range batch {
		done(r, f(ctx, r))
	}
}

// BlockingSink is the shape of a destination whose Write returns when the
// whole batch has its outcomes: nil when every record was delivered, a
// *BatchError for per-record outcomes, or any other error for the whole
// batch.
type BlockingSink interface {
	Write(ctx context.Context, batch []*Record) error
}

// Blocking adapts a BlockingSink to the Sink contract.
func Blocking(s BlockingSink) Sink { return blocking{s} }

type blocking struct{ s BlockingSink }

func (blocking) Start(context.Context, *Background) error { return nil }
func (blocking) Drain()                                   {}
func (blocking) Close() error                             { return nil }

func (b blocking) Write(ctx context.Context, batch []*Record, done Done) {
	errs := splitErr(b.s.Write(ctx, batch), len(batch))
	for i, r := range batch {
		done(r, errs[i])
	}
}

// EachRecord delivers the records of batch one after the other with deliver
// and reports their outcomes as a BlockingSink does: nil when every one was
// delivered, else a *BatchError.
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

// Part is a named piece of a sink with readiness of its own, such as the
// job follower of an asynchronous API. The service shows each part on
// /readyz and in connector_unit_ready beside its pipeline; the pipeline's
// own readiness does not include them, so a reason names the part.
type Part interface {
	Name() string
	Ready() (bool, string)
}

// Parts are the sink's parts, when it has any (a Sink with a
// Parts() []Part method).
func (p *Pipeline) Parts() []Part {
	if ps, ok := p.sink.(interface{ Parts() []Part }); ok {
		return ps.Parts()
	}
	return nil
}
