package mapping

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// runCtx is the context a program runs under: the caller's, ended also by
// the program's time limit. gojq asks its context's Done at every opcode,
// which for a context.WithTimeout is an atomic load, a type assertion and
// a receive attempt on a channel: 15–20% of an order mapping's CPU. Here
// Done is one atomic load that gives nil (a receive that never proceeds,
// and costs nothing) until the run must end, then a closed channel.
//
// Returning nil and later a channel departs from context.Context's rule
// that Done's answer does not change, which suits gojq (it asks again at
// every step) and nothing else: a runCtx is never handed to other code.
type runCtx struct {
	context.Context // values, and the caller's Deadline
	ended           atomic.Pointer[error]
	timer           *time.Timer
	stopParent      func() bool
}

// closedChan is the Done of every ended run.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *runCtx) Done() <-chan struct{} {
	if c.ended.Load() != nil {
		return closedChan
	}
	return nil
}

func (c *runCtx) Err() error {
	if e := c.ended.Load(); e != nil {
		return *e
	}
	return nil
}

// end ends the run with err, the first time only.
func (c *runCtx) end(err error) { c.ended.CompareAndSwap(nil, &err) }

// runCtxs keeps run contexts with their timers for reuse: a timer made
// once and reset per run costs less than one made per run.
var runCtxs = sync.Pool{New: func() any {
	c := &runCtx{}
	c.timer = time.AfterFunc(time.Hour, func() { c.end(context.DeadlineExceeded) })
	c.timer.Stop()
	return c
}}

// startRun returns the context of a run under parent that ends after
// timeout at the latest. Call finish when the run is over.
func startRun(parent context.Context, timeout time.Duration) *runCtx {
	c := runCtxs.Get().(*runCtx)
	c.Context = parent
	if err := parent.Err(); err != nil {
		c.end(err)
	}
	c.stopParent = context.AfterFunc(parent, func() { c.end(parent.Err()) })
	c.timer.Reset(timeout)
	return c
}

// finish releases c. It is reused only when neither its timer nor its
// parent's end can still reach it.
func (c *runCtx) finish() {
	timerStopped := c.timer.Stop()
	parentStopped := c.stopParent()
	if !timerStopped || !parentStopped || c.ended.Load() != nil {
		return // fired, or firing: left to the collector
	}
	c.Context, c.stopParent = nil, nil
	runCtxs.Put(c)
}
