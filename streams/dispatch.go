package streams

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactlab/connector/streams/delivery"
)

// workerIdle is how long a worker with nothing to do waits before it ends:
// the pool grows to what the concurrency limit allows under load and
// shrinks back when idle, so an idle pipeline holds no goroutines.
const workerIdle = 5 * time.Second

// dispatchRecords hands fresh and due records, one per Write, to workers
// under the concurrency limit, until work ends. A batch of one needs no
// batcher: records go straight from the fetcher to a worker.
func (p *Pipeline) dispatchRecords(work context.Context, fresh, due <-chan *Record, workers *sync.WaitGroup) {
	pool := p.newPool(work, workers)
	for {
		if !p.limit.acquire(work) {
			return
		}
		var r *Record
		select {
		case r = <-due:
		case x, ok := <-fresh:
			if !ok {
				fresh = nil
				p.limit.release(0, false)
				continue
			}
			r = x
		case <-work.Done():
			p.limit.release(0, false)
			return
		}
		pool.run([]*Record{r})
	}
}

// dispatchBatches hands the batcher's batches to workers under the
// concurrency limit, until batches is closed.
func (p *Pipeline) dispatchBatches(work context.Context, batches <-chan []*Record, workers *sync.WaitGroup) {
	pool := p.newPool(work, workers)
	for {
		if !p.limit.acquire(work) {
			return
		}
		b, ok := <-batches
		if !ok {
			p.limit.release(0, false)
			return
		}
		pool.run(b)
	}
}

// pool is the elastic set of workers that call Sink.Write: an idle worker
// takes the next batch, or a new one starts; the limiter bounds how many
// run. For a Sequential sink the batches are chained in the order they
// were dispatched, and each Write waits for the one before it to return.
type pool struct {
	p       *Pipeline
	work    context.Context
	jobs    chan job
	workers *sync.WaitGroup
	// turn is closed once the last dispatched Write returned; nil when the
	// sink is not Sequential.
	turn chan struct{}
}

// job is one Write to make: its batch and, for a Sequential sink, the turn
// to wait for (closed when the Write before it returned) and its own.
type job struct {
	b          []*Record
	prev, mine chan struct{}
}

func (p *Pipeline) newPool(work context.Context, workers *sync.WaitGroup) *pool {
	context.AfterFunc(work, p.limit.wake)
	pl := &pool{p: p, work: work, jobs: make(chan job), workers: workers}
	if IsSequential(p.sink) {
		pl.turn = make(chan struct{})
		close(pl.turn)
	}
	return pl
}

// run gives b to an idle worker, or to a new one. The caller holds a slot
// of the limiter, which the worker releases. run is called from one
// goroutine, so the turns it chains are in dispatch order.
func (pl *pool) run(b []*Record) {
	j := job{b: b}
	if pl.turn != nil {
		j.prev, j.mine = pl.turn, make(chan struct{})
		pl.turn = j.mine
	}
	select {
	case pl.jobs <- j:
		return
	default:
	}
	pl.workers.Add(1)
	go pl.worker(j)
}

func (pl *pool) worker(j job) {
	defer pl.workers.Done()
	w := &worker{p: pl.p}
	done := w.done // one method value per worker, not per call
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		if j.prev != nil {
			// Never abandoned: the Write before returns, stop or not.
			<-j.prev
		}
		start := time.Now()
		sentAt := start.Sub(pl.p.epoch)
		for _, r := range j.b {
			r.Attempts++
			r.sentAt = sentAt
		}
		w.overload.Store(false)
		pl.p.sink.Write(pl.work, j.b, done)
		if j.mine != nil {
			close(j.mine)
		}
		pl.p.limit.release(time.Since(start), w.overload.Load())
		idle.Reset(workerIdle)
		select {
		case j = <-pl.jobs:
		case <-idle.C:
			return
		case <-pl.work.Done():
			return
		}
	}
}

// worker notes whether the outcomes of its Write showed overload (a
// retryable failure: 429, 5xx, a timeout), for the limiter.
type worker struct {
	p        *Pipeline
	overload atomic.Bool
}

func (w *worker) done(r *Record, err error) {
	if err != nil && delivery.Classify(err) == delivery.Retry {
		w.overload.Store(true)
	}
	w.p.done(r, err)
}
