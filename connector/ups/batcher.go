package ups

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/contactlab/connector/connector/internal/fifo"
	"github.com/contactlab/connector/streams"
)

// BatcherConfig shapes the requests of one sink.
type BatcherConfig struct {
	// MaxRecords and MaxBodyBytes bound one request: records, and bytes of
	// the body as sent (gzip-compressed).
	MaxRecords   int
	MaxBodyBytes int
	// Linger is how long the oldest waiting record may wait for a request
	// to fill before a partial one is sent.
	Linger time.Duration
	// SiteID is sent as siteId when not zero; Grouped sends type "grouped".
	SiteID  int
	Grouped bool
	// MaxJobAttempts bounds how often a record is sent because its job
	// FAILED; after the last failure it is rejected.
	MaxJobAttempts int
	// RetryMemory is how long a record handed back to the runtime for a
	// retry is remembered (see doc.go, Ordering); it should outlast the
	// runtime's longest back-off.
	RetryMemory time.Duration
}

// fillTarget is the share of MaxBodyBytes a body aims at when sizing by
// estimate; the compressed size is then checked, so the estimate only costs
// fill when it is wrong, never an oversized request.
const fillTarget = 0.97

// initialRatio is the compressed/plain ratio assumed before the first body
// of a sink was compressed (JSON records with repeated keys).
const initialRatio = 0.3

// Batcher holds the records of one sink from Write until each has an
// outcome, and packs them into requests. It is the one place that decides
// ordering and coalescing (doc.go): per (collection, user) at most one record
// is in flight, and at most one waits behind it, the newest. It does no I/O
// and starts no goroutines; the RequestSender takes its requests and the
// JobFollower reports their jobs back.
//
// Record lifecycle: queued (ready to be sent) or parked (waiting for the
// user's record in flight), then in flight (in a request, in a group pinned
// for a re-send, or in an open job), then done. A record is done when it is
// resolved: delivered, replaced by a newer one, rejected, or handed back to
// the runtime with a retryable error. Each record is resolved exactly once,
// and its outcome is reported through the streams.Done it was admitted
// with, after the Batcher's lock is released (see unlock), so that a done
// that calls back into the sink cannot deadlock.
type Batcher struct {
	cfg  BatcherConfig
	env  envelope
	comp compressor // bodyLevel: the best fill where the bytes bind
	fast compressor // fastLevel: where every candidate fits anyway
	now  func() time.Time

	mu      sync.Mutex
	keys    map[string]*keyState
	resends fifo.Queue[*entry] // records of FAILED jobs, sent before the queue
	queue   fifo.Queue[*entry] // records ready to be sent, in arrival order
	// ready and readyBytes count the live records of resends and queue
	// (dead ones are dropped lazily when they reach the head).
	ready      int
	readyBytes int
	pinned     []*request // groups sent again as they are (429, bisection)
	markers    fifo.Queue[marker]
	seq        uint64
	ratios     ratios // compressed/plain size of recent bodies
	pending    int    // records admitted and not yet resolved
	draining   bool   // a graceful stop began: no linger
	notify     chan struct{}
	stats      BatcherStats
	// resolved are the outcomes decided under the lock, reported by unlock.
	resolved []outcome
	// onCoalesce, when set, is called (under the lock) per record replaced
	// by a newer one: the sink's metric.
	onCoalesce func()
}

// BatcherStats are a Batcher's counts since it was built.
type BatcherStats struct {
	Admitted  int64 // records given to Admit
	Coalesced int64 // records replaced by a newer update of their user before being sent
	Resent    int64 // records sent again after their job FAILED
	Requests  int64 // requests built
	Records   int64 // records in requests built, re-sends included
}

// position says where a record came from, to tell which of two updates of
// one user is newer.
type position struct {
	topic     string
	partition int
	offset    int64
	seq       uint64 // arrival order in the Batcher
}

// newerThan reports whether a was produced after b: by offset within one
// partition (exact, whatever order concurrent Writes arrive in), else by
// arrival.
func (a position) newerThan(b position) bool {
	if a.topic == b.topic && a.partition == b.partition {
		return a.offset > b.offset
	}
	return a.seq > b.seq
}

func (a position) sameRecord(b position) bool {
	return a.topic == b.topic && a.partition == b.partition && a.offset == b.offset
}

type entryState uint8

const (
	stateQueued entryState = iota
	stateParked
	stateInFlight
	stateDone
)

// entry is one record in the Batcher.
type entry struct {
	user    string
	data    []byte // the record as sent: compact {"userId":...,"value":...}
	pos     position
	rec     *streams.Record
	done    streams.Done // reports rec's outcome, once
	attempt int          // requests that carried it and were accepted
	state   entryState
	readyAt time.Time
	key     *keyState
}

// keyState is what the Batcher knows of one user.
type keyState struct {
	user     string
	latest   position // the newest record admitted
	queued   *entry   // the newest record, waiting (queued or parked)
	inFlight *entry
	// returned are the records handed back to the runtime for a retry that
	// did not come back yet, each remembered until its deadline, so that a
	// newer record sent meanwhile makes it obsolete when it comes back.
	// Every one counts: remembering only the last one let an older record,
	// back after a newer one had come back and been delivered, find its
	// user forgotten and overwrite the newer value.
	returned []returnedRecord
}

// returnedRecord is a record handed back to the runtime for a retry.
type returnedRecord struct {
	pos   position
	until time.Time
}

// cameBack forgets the hand-back of the record at pos, which is back.
func (k *keyState) cameBack(pos position) {
	k.returned = slices.DeleteFunc(k.returned, func(r returnedRecord) bool { return r.pos.sameRecord(pos) })
}

type marker struct {
	key   *keyState
	until time.Time
}

// outcome is a record's outcome, decided under the lock and reported after.
type outcome struct {
	e   *entry
	err error
}

// request is a group of records sent as one enrichment request.
type request struct {
	entries []*entry
	body    []byte // compressed; nil until built
	plain   int    // uncompressed size
}

// attempt is the job attempt the request makes for its records: one more
// than the most any of them has had.
func (r *request) attempt() int {
	a := 0
	for _, e := range r.entries {
		a = max(a, e.attempt)
	}
	return a + 1
}

// NewBatcher builds a Batcher.
func NewBatcher(cfg BatcherConfig) *Batcher {
	return &Batcher{
		cfg:    cfg,
		env:    newEnvelope(cfg.SiteID, cfg.Grouped),
		comp:   compressor{level: bodyLevel},
		fast:   compressor{level: fastLevel},
		now:    time.Now,
		keys:   make(map[string]*keyState),
		ratios: ratios{best: initialRatio, fast: initialRatio},
		notify: make(chan struct{}),
	}
}

// fits reports whether a record can be sent at all: alone, compressed,
// within MaxBodyBytes. Only a record near the limit is compressed to know.
func (b *Batcher) fits(data []byte) (bool, error) {
	plain := b.env.plainSize(1, len(data))
	if plain+gzipOverhead(plain) <= b.cfg.MaxBodyBytes {
		return true, nil
	}
	body, err := b.comp.compress(b.env, [][]byte{data}, plain)
	if err != nil {
		return false, err
	}
	return len(body) <= b.cfg.MaxBodyBytes, nil
}

// unlock releases the lock, then reports the outcomes resolved under it.
// Every method that may resolve a record ends with it (deferred), so done
// never runs under the lock.
func (b *Batcher) unlock() {
	out := b.resolved
	b.resolved = nil
	b.mu.Unlock()
	for _, o := range out {
		o.e.done(o.e.rec, o.err)
	}
}

// Admit hands records to the Batcher; each carries the Done that reports
// its outcome. A record older than one already admitted for its user is
// resolved at once as replaced; a record waiting for its user is replaced
// by a newer one.
func (b *Batcher) Admit(entries []*entry) {
	if len(entries) == 0 {
		return
	}
	b.mu.Lock()
	defer b.unlock()
	now := b.now()
	b.sweepMarkers(now)
	for _, e := range entries {
		b.stats.Admitted++
		b.pending++
		b.seq++
		e.pos.seq = b.seq
		k := b.keys[e.user]
		if k == nil {
			k = &keyState{user: e.user}
			b.keys[e.user] = k
		} else if k.latest.newerThan(e.pos) {
			b.coalesced()
			b.resolve(e, nil)
			continue
		}
		e.key = k
		k.latest = e.pos
		if len(k.returned) > 0 {
			k.cameBack(e.pos)
		}
		if old := k.queued; old != nil {
			b.drop(old)
			b.coalesced()
			b.resolve(old, nil)
		}
		k.queued = e
		if k.inFlight == nil {
			b.enqueue(&b.queue, e, now)
		} else {
			e.state = stateParked
		}
	}
	b.signal()
}

// Drain makes every record held be sent without waiting for the linger,
// from now on: a graceful stop began, and what is held should be on its way
// before the runtime's grace runs out. Records the runtime hands back for a
// retry meanwhile go at once too.
func (b *Batcher) Drain() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draining = true
	b.signal()
}

// Pending is the number of records admitted whose outcome is not known yet.
func (b *Batcher) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pending
}

// Stats returns the Batcher's counts.
func (b *Batcher) Stats() BatcherStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Users is the number of users the Batcher keeps state for: those with a
// record in it, and those remembered for a record handed back for retry.
func (b *Batcher) Users() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

// changed returns a channel closed at the next change that may make a
// request ready.
func (b *Batcher) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.notify
}

func (b *Batcher) signal() {
	close(b.notify)
	b.notify = make(chan struct{})
}

// Ready reports whether a request should be sent now: a pinned group
// waits, the queue fills a request, the oldest queued record has lingered
// long enough, or the Batcher drains. When not, at is when the linger ends (zero: nothing
// is queued).
func (b *Batcher) Ready() (ready bool, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pinned) > 0 {
		return true, time.Time{}
	}
	head := b.head()
	if head == nil {
		return false, time.Time{}
	}
	if b.draining || b.ready >= b.cfg.MaxRecords || float64(b.env.plainSize(b.ready, b.readyBytes))*b.ratios.best >= fillTarget*float64(b.cfg.MaxBodyBytes) {
		return true, time.Time{}
	}
	at = head.readyAt.Add(b.cfg.Linger)
	return !b.now().Before(at), at
}

// NextSize is how many records the next request would hold at most.
func (b *Batcher) NextSize() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pinned) > 0 {
		return len(b.pinned[0].entries)
	}
	return min(b.ready, b.cfg.MaxRecords)
}

// head is the oldest live ready record, dropping dead ones on the way.
func (b *Batcher) head() *entry {
	for _, q := range []*fifo.Queue[*entry]{&b.resends, &b.queue} {
		for q.Len() > 0 {
			if e := q.Peek(); e.state == stateQueued {
				return e
			}
			q.Pop()
		}
	}
	return nil
}

// Next builds the next request of at most maxRecords records, marking its
// records in flight; nil when nothing is ready. The records are taken under
// the lock and compressed outside it, so Admit and the outcomes of other
// requests do not wait for gzip; those that do not fit go back first.
func (b *Batcher) Next(maxRecords int) (*request, error) {
	b.mu.Lock()
	if len(b.pinned) > 0 {
		req := b.pinned[0]
		b.pinned = b.pinned[1:]
		b.countRequest(req)
		b.mu.Unlock()
		if req.body != nil {
			return req, nil
		}
		return req, b.compressPinned(req)
	}
	cands := b.take(min(maxRecords, b.cfg.MaxRecords))
	ratios := b.ratios
	b.mu.Unlock()
	if len(cands) == 0 {
		return nil, nil
	}
	req, measured, err := b.fit(cands, ratios)
	b.mu.Lock()
	defer b.unlock()
	if err != nil {
		b.giveBack(cands)
		return nil, err
	}
	b.ratios = b.ratios.update(measured)
	b.giveBack(cands[len(req.entries):])
	b.countRequest(req)
	return req, nil
}

// take pops the first n live ready records and marks them in flight.
func (b *Batcher) take(n int) []*entry {
	var out []*entry
	for _, q := range []*fifo.Queue[*entry]{&b.resends, &b.queue} {
		for len(out) < n && q.Len() > 0 {
			e := q.Pop()
			if e.state != stateQueued {
				continue // dead: replaced
			}
			b.drop(e)
			e.state = stateInFlight
			e.key.queued = nil
			e.key.inFlight = e
			out = append(out, e)
		}
	}
	return out
}

// giveBack returns records taken but left out of a request to the head of
// the line, unless a newer update of the user arrived meanwhile (it waited
// behind them, as parked).
func (b *Batcher) giveBack(es []*entry) {
	if len(es) == 0 {
		return
	}
	now := b.now()
	for _, e := range es {
		k := e.key
		switch {
		case k.queued != nil:
			b.coalesced()
			b.finish(e, nil, now)
		default:
			k.inFlight = nil
			k.queued = e
			b.enqueue(&b.resends, e, now)
		}
	}
	b.signal()
}

func (b *Batcher) countRequest(req *request) {
	b.stats.Requests++
	b.stats.Records += int64(len(req.entries))
}

// Accepted notes that the API accepted req: its records stay in flight
// until their job ends.
func (b *Batcher) Accepted(req *request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range req.entries {
		e.attempt++
	}
}

// Requeue pins req to be sent again as it is, first (after a 429).
func (b *Batcher) Requeue(req *request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pinned = slices.Insert(b.pinned, 0, req)
	b.signal()
}

// Split pins the two halves of req to be sent first, each as its own
// request (after a 413, or a 400 whose culprits are being searched for).
// req must hold at least two records.
func (b *Batcher) Split(req *request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	half := len(req.entries) / 2
	b.pinned = slices.Insert(b.pinned, 0,
		&request{entries: req.entries[:half]},
		&request{entries: req.entries[half:]})
	b.signal()
}

// Fail resolves the records of req, which could not be delivered, with err
// for the runtime to retry, except those a newer update of their user has
// replaced meanwhile: those are resolved as delivered.
func (b *Batcher) Fail(req *request, err error) {
	b.mu.Lock()
	defer b.unlock()
	now := b.now()
	for _, e := range req.entries {
		if b.replaced(e, now) {
			continue
		}
		// Remembered before finish, which forgets users with nothing left.
		k := e.key
		until := now.Add(b.cfg.RetryMemory)
		k.returned = append(k.returned, returnedRecord{pos: e.pos, until: until})
		b.markers.Push(marker{key: k, until: until})
		b.finish(e, err, now)
	}
	b.signal()
}

// Reject resolves the records of req with err, which rejects them.
func (b *Batcher) Reject(req *request, err error) { b.finishAll(req.entries, err) }

// JobCompleted resolves the records of a COMPLETED job as delivered.
func (b *Batcher) JobCompleted(entries []*entry) { b.finishAll(entries, nil) }

// finishAll resolves every one of entries with err (nil: delivered).
func (b *Batcher) finishAll(entries []*entry, err error) {
	b.mu.Lock()
	defer b.unlock()
	now := b.now()
	for _, e := range entries {
		b.finish(e, err, now)
	}
	b.signal()
}

// JobFailed handles the records of a FAILED job: those replaced meanwhile
// are delivered, those with attempts left are queued to be sent again
// (first), the others are resolved with reject(attempts). It returns how
// many it queued again.
func (b *Batcher) JobFailed(entries []*entry, reject func(attempts int) error) int {
	b.mu.Lock()
	defer b.unlock()
	now := b.now()
	resent := 0
	for _, e := range entries {
		switch {
		case b.replaced(e, now):
		case e.attempt < b.cfg.MaxJobAttempts:
			e.key.inFlight = nil
			e.key.queued = e
			b.enqueue(&b.resends, e, now)
			b.stats.Resent++
			resent++
		default:
			b.finish(e, reject(e.attempt), now)
		}
	}
	b.signal()
	return resent
}

// replaced resolves e, in flight and not delivered, as delivered when a
// newer update of its user is queued: that one is sent instead, so e need
// not be. It reports whether it did.
func (b *Batcher) replaced(e *entry, now time.Time) bool {
	if e.key.queued == nil {
		return false
	}
	b.coalesced()
	b.finish(e, nil, now)
	return true
}

// finish resolves an in-flight record and lets the user's waiting record,
// if any, be sent.
func (b *Batcher) finish(e *entry, err error, now time.Time) {
	k := e.key
	if k.inFlight == e {
		k.inFlight = nil
		if w := k.queued; w != nil && w.state == stateParked {
			b.enqueue(&b.queue, w, now)
		}
	}
	b.resolve(e, err)
	b.forget(k)
}

func (b *Batcher) enqueue(q *fifo.Queue[*entry], e *entry, now time.Time) {
	e.state = stateQueued
	e.readyAt = now
	q.Push(e)
	b.ready++
	b.readyBytes += len(e.data)
}

// drop takes a queued record out of the ready count; the queues drop it
// when it reaches their head.
func (b *Batcher) drop(e *entry) {
	if e.state == stateQueued {
		b.ready--
		b.readyBytes -= len(e.data)
	}
	e.state = stateDone
}

func (b *Batcher) coalesced() {
	b.stats.Coalesced++
	if b.onCoalesce != nil {
		b.onCoalesce()
	}
}

// resolve decides e's outcome; unlock reports it.
func (b *Batcher) resolve(e *entry, err error) {
	e.state = stateDone
	b.pending--
	b.resolved = append(b.resolved, outcome{e, err})
}

// forget drops a user's state once nothing of it is left to remember.
func (b *Batcher) forget(k *keyState) {
	if k.queued == nil && k.inFlight == nil && len(k.returned) == 0 && b.keys[k.user] == k {
		delete(b.keys, k.user)
	}
}

// sweepMarkers forgets records handed back for retry that did not come
// back within RetryMemory (the runtime dead-lettered them, or stopped).
func (b *Batcher) sweepMarkers(now time.Time) {
	for b.markers.Len() > 0 {
		m := b.markers.Peek()
		if now.Before(m.until) {
			return
		}
		b.markers.Pop()
		k := m.key
		k.returned = slices.DeleteFunc(k.returned, func(r returnedRecord) bool { return !now.Before(r.until) })
		b.forget(k)
	}
}

// String describes the Batcher for logs and test failures.
func (b *Batcher) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("batcher(ready %d, pinned %d, users %d, pending %d, draining %v)", b.ready, len(b.pinned), len(b.keys), b.pending, b.draining)
}
