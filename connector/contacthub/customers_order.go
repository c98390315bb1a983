package contacthub

import (
	"slices"
	"sync"
	"time"

	"github.com/contactlab/connector/connector/internal/fifo"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// recordPos is where a record was read.
type recordPos struct {
	topic     string
	partition int
	offset    int64
}

func (a recordPos) samePartition(b recordPos) bool {
	return a.topic == b.topic && a.partition == b.partition
}

// customerCall is one record on its way to Contacthub.
type customerCall struct {
	rec  *streams.Record
	done streams.Done
	// op is the decoded record; nil for an invalid record, already
	// answered, that only marks its offset as seen (see customerOrder.pass).
	op      *schemas.CustomerRecord
	key     string // the customer; "" for a record that keeps no order
	pos     recordPos
	arrived time.Time
}

// customerLine is the calls of one customer: at most one in flight, the
// others waiting in order behind it.
type customerLine struct {
	key     string
	waiting []*customerCall
	busy    bool // a call is in flight
	queued  bool // in the ready queue
	// holding: the last call failed with a retryable error and the runtime
	// will hand it back; the waiting calls must not overtake it. The hold
	// ends when it comes back or at holdUntil, whichever is first.
	holding   bool
	retry     recordPos
	holdUntil time.Time
	holdGen   uint64
}

// insert places c behind the calls read before it: by offset among the
// calls of its partition, by arrival otherwise. A record handed back for
// the retry the line holds for goes first.
func (l *customerLine) insert(c *customerCall) {
	if l.holding && c.pos == l.retry {
		l.holding = false
		l.waiting = slices.Insert(l.waiting, 0, c)
		return
	}
	for i, w := range l.waiting {
		if w.pos.samePartition(c.pos) && w.pos.offset > c.pos.offset {
			l.waiting = slices.Insert(l.waiting, i, c)
			return
		}
	}
	l.waiting = append(l.waiting, c)
}

func (l *customerLine) canGo() bool { return !l.busy && !l.holding && len(l.waiting) > 0 }

// partitionOrder puts one partition's fresh records back in offset order.
// The runtime fetches in offset order, but its workers call Write
// concurrently, so two records handed over one after the other may arrive
// the other way round. A record that arrives ahead of a lower offset waits
// for it up to the window; a hole still open then is taken for a gap in
// the partition (compaction, transaction markers) and skipped.
type partitionOrder struct {
	next int64           // the offset expected next; -1 before the first one
	held []*customerCall // sorted by offset, each above next
}

// timeout is a deadline the order's clock keeps: a partition's reorder
// window, or a line's retry hold (of generation gen).
type timeout struct {
	part *partitionOrder
	line *customerLine
	gen  uint64
}

// OrderStats are the counts of a CustomersSink's ordering since it was
// built.
type OrderStats struct {
	// Reordered counts records that arrived ahead of a lower offset of
	// their partition and waited for it.
	Reordered int64
	// GapsSkipped counts holes in a partition's offsets given up on after
	// the reorder window; Late counts records that arrived after their
	// hole was skipped (sent in arrival order, possibly behind later
	// records of their customer).
	GapsSkipped int64
	Late        int64
	// RetryHolds counts customers held behind a record handed back for a
	// retry; HoldsExpired those released because it did not come back in
	// time (dead-lettered, or the pipeline stopping).
	RetryHolds   int64
	HoldsExpired int64
	// Waiting is how many records wait now, held or queued; Customers how
	// many customers have records in the sink.
	Waiting   int
	Customers int
}

// customerOrder decides which record goes next: per partition, fresh
// records in offset order (partitionOrder); per customer, one call in
// flight and the rest in order behind it (customerLine). It does no I/O
// and starts no goroutine: the sink's workers take calls from it, and the
// deadlines it sets (reorder windows, retry holds) go to schedule, whose
// clock calls fire when each is due.
type customerOrder struct {
	window   time.Duration // <0: no reordering
	hold     time.Duration
	now      func() time.Time
	schedule func(t timeout, at time.Time)

	mu       sync.Mutex
	parts    map[partitionKey]*partitionOrder
	lines    map[string]*customerLine
	ready    fifo.Queue[*customerLine]
	draining bool
	waiting  int
	stats    OrderStats
	// wake has room for one signal: work became ready. A worker that takes
	// work passes the signal on while more is ready.
	wake chan struct{}
}

type partitionKey struct {
	topic     string
	partition int
}

func newCustomerOrder(window, hold time.Duration, schedule func(timeout, time.Time)) *customerOrder {
	return &customerOrder{
		window:   window,
		hold:     hold,
		now:      time.Now,
		schedule: schedule,
		parts:    make(map[partitionKey]*partitionOrder),
		lines:    make(map[string]*customerLine),
		wake:     make(chan struct{}, 1),
	}
}

func (o *customerOrder) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// add takes a call from Write. A record tried before (a retry handed back
// by the runtime) bypasses the partition order: its offset was seen.
func (o *customerOrder) add(c *customerCall) {
	o.mu.Lock()
	c.arrived = o.now()
	if c.rec.Attempts > 1 || o.draining || o.window < 0 {
		o.admit(c)
	} else {
		o.sequence(c)
	}
	o.unlock()
}

// unlock releases o.mu and then, when a call is ready, wakes a worker.
func (o *customerOrder) unlock() {
	more := o.ready.Len() > 0
	o.mu.Unlock()
	if more {
		o.signal()
	}
}

// pass marks the offset of a record answered without a call (invalid), so
// that the records behind it do not wait for it.
func (o *customerOrder) pass(r *streams.Record) {
	o.add(&customerCall{rec: r, pos: posOf(r)})
}

func posOf(r *streams.Record) recordPos {
	return recordPos{topic: r.Topic, partition: r.Partition, offset: r.Offset}
}

func (o *customerOrder) sequence(c *customerCall) {
	k := partitionKey{c.pos.topic, c.pos.partition}
	p := o.parts[k]
	if p == nil {
		p = &partitionOrder{next: -1}
		o.parts[k] = p
	}
	switch {
	case p.next >= 0 && c.pos.offset == p.next:
		p.next++
		o.admit(c)
		o.releaseContiguous(p)
	case p.next >= 0 && c.pos.offset < p.next:
		// Its hole was skipped, or the partition is read again (a
		// rebalance): order with what came before cannot be restored.
		o.stats.Late++
		o.admit(c)
	default:
		if p.next >= 0 {
			o.stats.Reordered++
		}
		i, _ := slices.BinarySearchFunc(p.held, c.pos.offset, func(h *customerCall, off int64) int {
			return cmpInt64(h.pos.offset, off)
		})
		p.held = slices.Insert(p.held, i, c)
		o.waiting++
		o.schedule(timeout{part: p}, c.arrived.Add(o.window))
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// releaseContiguous admits the held records that follow next without a hole.
func (o *customerOrder) releaseContiguous(p *partitionOrder) {
	for len(p.held) > 0 && p.held[0].pos.offset <= p.next {
		c := p.held[0]
		p.held[0] = nil
		p.held = p.held[1:]
		o.waiting--
		if c.pos.offset == p.next {
			p.next++
		}
		o.admit(c)
	}
}

// expire skips the holes below every held record that has waited the
// whole window: whatever fills them now comes too late.
func (o *customerOrder) expire(p *partitionOrder, now time.Time) {
	for len(p.held) > 0 {
		oldest := 0
		for i, c := range p.held {
			if c.arrived.Before(p.held[oldest].arrived) {
				oldest = i
			}
		}
		if now.Before(p.held[oldest].arrived.Add(o.window)) {
			return
		}
		if p.next >= 0 {
			o.stats.GapsSkipped++
		}
		p.next = p.held[oldest].pos.offset
		o.releaseContiguous(p)
	}
}

// admit puts a call in its customer's line, or drops the mark of an
// invalid record.
func (o *customerOrder) admit(c *customerCall) {
	if c.op == nil {
		return
	}
	var l *customerLine
	if c.key == "" {
		l = &customerLine{} // a line of its own: it keeps no order
	} else if l = o.lines[c.key]; l == nil {
		l = &customerLine{key: c.key}
		o.lines[c.key] = l
	}
	l.insert(c)
	o.waiting++
	o.queue(l)
}

func (o *customerOrder) queue(l *customerLine) {
	if l.canGo() && !l.queued {
		l.queued = true
		o.ready.Push(l)
	}
}

// take returns the next call to make and marks its customer busy.
func (o *customerOrder) take() (*customerLine, *customerCall, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.ready.Len() > 0 {
		l := o.ready.Pop()
		l.queued = false
		if !l.canGo() {
			continue
		}
		c := l.waiting[0]
		l.waiting[0] = nil
		l.waiting = l.waiting[1:]
		l.busy = true
		o.waiting--
		if o.ready.Len() > 0 {
			o.signal()
		}
		return l, c, true
	}
	return nil, nil, false
}

// finish ends c's call with err and reports the outcome. A retryable
// outcome holds the customer until the runtime hands c back, so that no
// later record of the customer overtakes it.
func (o *customerOrder) finish(l *customerLine, c *customerCall, err error) {
	o.mu.Lock()
	l.busy = false
	if a := delivery.Classify(err); a == delivery.Retry || a == delivery.Pause {
		l.holding = true
		l.retry = c.pos
		l.holdGen++
		// The runtime waits at least the answer's Retry-After before it
		// hands the record back.
		l.holdUntil = o.now().Add(o.hold + delivery.RetryDelayOf(err))
		o.stats.RetryHolds++
		o.schedule(timeout{line: l, gen: l.holdGen}, l.holdUntil)
	}
	o.queue(l)
	o.forget(l)
	more := o.ready.Len() > 0
	o.mu.Unlock()
	// Outside the lock: a runtime's done may hand the record straight back.
	c.done(c.rec, err)
	if more {
		o.signal()
	}
}

// forget drops an idle line, so memory follows the customers in the sink,
// not every customer ever seen.
func (o *customerOrder) forget(l *customerLine) {
	if l.key != "" && !l.busy && !l.holding && len(l.waiting) == 0 && o.lines[l.key] == l {
		delete(o.lines, l.key)
	}
}

// fire handles one deadline of the clock. Deadlines are not cancelled:
// one that no longer applies finds nothing to do.
func (o *customerOrder) fire(t timeout) {
	o.mu.Lock()
	now := o.now()
	switch {
	case t.part != nil:
		o.expire(t.part, now)
	case t.line != nil && t.line.holding && t.line.holdGen == t.gen:
		t.line.holding = false
		o.stats.HoldsExpired++
		o.queue(t.line)
		o.forget(t.line)
	}
	o.unlock()
}

// drain admits every held record at once: a graceful stop sends what the
// sink holds, and no fresh record will fill a hole now.
func (o *customerOrder) drain() {
	o.mu.Lock()
	o.draining = true
	for _, p := range o.parts {
		for _, c := range p.held {
			o.waiting--
			o.admit(c)
		}
		p.held = nil
	}
	o.unlock()
}

func (o *customerOrder) snapshot() OrderStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.stats
	s.Waiting = o.waiting
	s.Customers = len(o.lines)
	return s
}
