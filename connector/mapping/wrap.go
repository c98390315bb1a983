package mapping

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"weak"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// Check is a sink's verdict on one record value: nil when the sink would
// take it, else why not (a *schemas.ValidationError with JSON paths).
type Check func(value []byte) error

// Option adjusts Wrap.
type Option func(*Sink)

// WithCheck makes Wrap check every output against the sink's schema before
// any output of a record is sent: a record with an output the sink would
// refuse is dead-lettered as "invalid" whole, so that no part of it
// reaches the API and a replay from the dead-letter topic duplicates
// nothing.
func WithCheck(c Check) Option { return func(s *Sink) { s.check = c } }

// SelfChecking is implemented by a sink that checks every record it is
// given by the same rules as its type's Check, before sending anything,
// and dead-letters one that breaks them with reason "invalid" and the
// check's error (the Contacthub events sink). In front of it a record's
// lone output is not checked first, which would decode it twice: the
// dead letter is the same. Several outputs still are, so that none is sent
// when one is invalid.
type SelfChecking interface {
	ChecksEveryRecord()
}

// Sink is a streams.Sink that maps each record with a Program and hands
// the outputs to the sink it wraps.
type Sink struct {
	inner streams.Sink
	prog  *Program
	check Check
	// checkLone says whether a record's lone output is checked before it
	// is handed over: not in front of a SelfChecking sink.
	checkLone bool

	mu sync.Mutex
	// owed are the outputs a record still owes after an attempt in which
	// some failed and were handed back for a retry, by its record. The keys
	// are weak: when the runtime gives up on the record (its retries run
	// out and it is dead-lettered) and lets go of it, the entry goes too.
	owed map[weak.Pointer[streams.Record]]*fanOut
}

// Wrap puts p in front of inner. Each record becomes the records p outputs:
// same topic, partition, offset, key, headers and time, the output as
// value. The original's outcome, reported through done once every output
// has its outcome, is:
//
//   - delivered, when every output was delivered;
//   - dead-lettered, when an output was rejected, with that output's reason
//     and error prefixed by its index ("output[1]: ..."), even when others
//     were delivered (a fan-out is not a transaction; replaying the dead
//     letter sends the delivered outputs again);
//   - otherwise, when outputs failed with an error the runtime retries (or a
//     refused credential), that error (the longest Retry-After of them;
//     unauthorized first). The runtime retries the original record, and
//     Wrap sends again only the outputs that have not been delivered: the
//     program is not run again.
//
// The Kafka offset of a record is therefore committed only once every
// output has finished. inner's Parts are the wrapped sink's.
func Wrap(inner streams.Sink, p *Program, opts ...Option) *Sink {
	_, selfChecking := inner.(SelfChecking)
	s := &Sink{inner: inner, prog: p, owed: map[weak.Pointer[streams.Record]]*fanOut{}, checkLone: !selfChecking}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Start starts the wrapped sink.
func (s *Sink) Start(ctx context.Context, bg *streams.Background) error {
	return s.inner.Start(ctx, bg)
}

// Drain drains the wrapped sink.
func (s *Sink) Drain() { s.inner.Drain() }

// Close closes the wrapped sink.
func (s *Sink) Close() error { return s.inner.Close() }

// Parts are the wrapped sink's parts (job followers), for /readyz.
func (s *Sink) Parts() []streams.Part {
	if ps, ok := s.inner.(interface{ Parts() []streams.Part }); ok {
		return ps.Parts()
	}
	return nil
}

// Sequential implements streams.Sequential for the wrapped sink: the
// runtime then calls Write one at a time, in fetch order, and the mapping
// hands each batch over in turn. It is the mapping's only ordering.
func (s *Sink) Sequential() bool { return streams.IsSequential(s.inner) }

// Inner is the wrapped sink.
func (s *Sink) Inner() streams.Sink { return s.inner }

// Owed is how many records wait for a retry of some of their outputs.
func (s *Sink) Owed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.owed)
}

// Outputs maps r and checks each output, as Write does before sending:
// the outputs, or an error that Is ErrRejected with reason "mapping" or
// "invalid". No outputs and no error means r is filtered.
func (s *Sink) Outputs(ctx context.Context, r *streams.Record) ([][]byte, error) {
	return outputs(ctx, s.prog, s.check, true, r)
}

// outputs maps r and checks its outputs with check; a lone output only
// when checkLone.
func outputs(ctx context.Context, p *Program, check Check, checkLone bool, r *streams.Record) ([][]byte, error) {
	in, err := Input(r)
	if err != nil {
		return nil, streams.Reject("mapping", fmt.Errorf("mapping %s: %w", p.name, err))
	}
	outs, err := p.Run(ctx, in)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrTimeout) {
			// A stop, or a starved process: not the record's fault; retried.
			return nil, fmt.Errorf("mapping %s: %w", p.name, err)
		}
		return nil, streams.Reject("mapping", fmt.Errorf("mapping %s: %w", p.name, err))
	}
	if check != nil && (checkLone || len(outs) > 1) {
		for i, o := range outs {
			if err := check(o); err != nil {
				return nil, streams.Reject("invalid", &OutputError{Index: i, Err: err})
			}
		}
	}
	return outs, nil
}

// OutputError is the failure of one output of a mapping.
type OutputError struct {
	Index int
	Err   error
}

func (e *OutputError) Error() string { return fmt.Sprintf("output[%d]: %v", e.Index, e.Err) }
func (e *OutputError) Unwrap() error { return e.Err }

// fanOut is one record's outputs on their way through the wrapped sink.
type fanOut struct {
	mu sync.Mutex
	// orig is the record the runtime gave, held during an attempt only, so
	// that between attempts the runtime alone keeps it alive.
	orig *streams.Record
	// owed are the outputs this attempt sends; pending how many of them
	// have no outcome yet.
	owed    []output
	pending int
	// again are the outputs of this attempt to send at the next one;
	// rejected is the first rejection, retry the error to report for a retry.
	again    []output
	rejected error
	retry    error
	// cleanup is set once the record is remembered between attempts.
	cleanup bool
}

type output struct {
	index int
	rec   *streams.Record
}

// slot says which fan-out and output a derived record belongs to.
type slot struct {
	f     *fanOut
	index int
}

// Write implements streams.Sink: each record is mapped (or, when it comes
// back for a retry, its outputs still owed are taken) and every output of
// the batch goes to the wrapped sink in one Write, as soon as the batch is
// mapped. The order of hand-over is the runtime's: in front of a sink that
// keeps an order (streams.Sequential) the runtime calls Write one batch at
// a time in fetch order; in front of any other, concurrent Writes map in
// parallel and none waits for a slower one.
func (s *Sink) Write(ctx context.Context, batch []*streams.Record, done streams.Done) {
	var derived []*streams.Record
	var slots []slot
	for _, r := range batch {
		f := s.takeOwed(r)
		if f == nil {
			outs, err := outputs(ctx, s.prog, s.check, s.checkLone, r)
			if err != nil {
				done(r, err)
				continue
			}
			if len(outs) == 0 {
				done(r, streams.ErrFiltered)
				continue
			}
			f = &fanOut{owed: make([]output, len(outs))}
			for i, o := range outs {
				d := &streams.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: o, Headers: r.Headers, Time: r.Time}
				f.owed[i] = output{index: i, rec: d}
			}
		}
		f.orig = r
		f.pending = len(f.owed)
		for _, o := range f.owed {
			o.rec.Attempts = r.Attempts
			derived = append(derived, o.rec)
			slots = append(slots, slot{f, o.index})
		}
	}
	if len(derived) == 0 {
		return
	}
	// The index is built before Write and only read after, so outcomes
	// from any goroutine look it up without a lock.
	var index map[*streams.Record]slot
	if len(derived) > 8 {
		index = make(map[*streams.Record]slot, len(derived))
		for i, d := range derived {
			index[d] = slots[i]
		}
	}
	s.inner.Write(ctx, derived, func(d *streams.Record, err error) {
		var sl slot
		if index != nil {
			sl = index[d]
		} else {
			for i, x := range derived {
				if x == d {
					sl = slots[i]
					break
				}
			}
		}
		if sl.f == nil {
			return // not a record of this Write: the wrapped sink's bug, ignored
		}
		s.outcome(sl.f, output{sl.index, d}, err, done)
	})
}

// outcome takes one output's outcome and, with the last of the attempt,
// reports the original's.
func (s *Sink) outcome(f *fanOut, o output, err error, done streams.Done) {
	f.mu.Lock()
	switch {
	case err == nil || errors.Is(err, streams.ErrFiltered):
	case delivery.Classify(err) == delivery.DeadLetter:
		if f.rejected == nil {
			f.rejected = streams.Reject(delivery.ReasonOf(err), &OutputError{Index: o.index, Err: err})
		}
	default:
		f.again = append(f.again, o)
		if f.retry == nil || preferRetry(err, f.retry) {
			f.retry = &OutputError{Index: o.index, Err: err}
		}
	}
	f.pending--
	if f.pending > 0 {
		f.mu.Unlock()
		return
	}
	orig := f.orig
	f.orig = nil
	var final error
	switch {
	case f.rejected != nil:
		final = f.rejected
	case f.retry != nil:
		final = f.retry
		f.owed, f.again, f.retry = f.again, nil, nil
		f.mu.Unlock()
		s.remember(orig, f)
		done(orig, final)
		return
	}
	f.mu.Unlock()
	done(orig, final)
}

// preferRetry reports whether err should be reported for a retry rather
// than cur: a refused credential pauses the pipeline, so it goes first;
// then the longest wait the API asked for.
func preferRetry(err, cur error) bool {
	ea, ca := delivery.Classify(err) == delivery.Pause, delivery.Classify(cur) == delivery.Pause
	if ea != ca {
		return ea
	}
	return delivery.RetryDelayOf(err) > delivery.RetryDelayOf(cur)
}

// remember keeps f for r's next attempt.
func (s *Sink) remember(r *streams.Record, f *fanOut) {
	key := weak.Make(r)
	s.mu.Lock()
	s.owed[key] = f
	register := !f.cleanup
	f.cleanup = true
	s.mu.Unlock()
	if register {
		runtime.AddCleanup(r, s.forget, key)
	}
}

// takeOwed is what r still owes from an earlier attempt, or nil.
func (s *Sink) takeOwed(r *streams.Record) *fanOut {
	if r.Attempts <= 1 {
		return nil // a first attempt owes nothing yet
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := weak.Make(r)
	f := s.owed[key]
	delete(s.owed, key)
	return f
}

func (s *Sink) forget(key weak.Pointer[streams.Record]) {
	s.mu.Lock()
	delete(s.owed, key)
	s.mu.Unlock()
}

var _ streams.Sink = (*Sink)(nil)
