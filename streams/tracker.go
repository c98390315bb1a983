package streams

import (
	"strconv"
	"sync"
	"time"
)

// offsetTracker decides which offsets may be committed: per partition, only
// the contiguous prefix of finished records, however out of order they finish.
//
// kafka-go re-fetches from the committed offset when a partition comes back
// after a rebalance, so an offset may be seen again. Each run of increasing
// offsets is its own window, and only the current one (the newest) moves
// the partition's commit, which never goes backwards. Its prefix is safe to
// commit: it starts at the group's committed offset, and every offset of it
// was processed.
//
// An older window's records finish too, but they no longer move the
// commit: the current window reads every one of their offsets again, and
// an older record's "done" may stand for a copy of it in the current
// window. A sink that acknowledges a record as replaced by a newer one
// (the UPS sink coalesces a user's updates) would otherwise let the old
// window pass records whose replacements, read again into the current
// window, were not sent yet, and a crash then would lose them. Each of
// them is released from the uncommitted window when it finishes, as the
// current window will count its offset again.
type offsetTracker struct {
	mu    sync.Mutex
	parts map[topicPartition]*partitionState
}

type topicPartition struct {
	topic     string
	partition int
}

type partitionState struct {
	cur       *window
	commit    int64 // next offset to commit (last finished prefix offset + 1); -1 none
	committed int64 // what was last committed to Kafka; -1 none
	hwm       int64 // high-water mark seen on the last fetched record
	// finished counts the records finished since the last commit point
	// was taken: they are what a commit of ps.commit releases.
	finished int64
	// commitFailures counts commit rounds in a row that failed for this
	// partition alone.
	commitFailures int
}

// window is one run of increasing offsets fetched for a partition.
type window struct {
	state *partitionState
	last  int64   // last offset added
	queue []entry // pending offsets in fetch order; head is queue[head]
	head  int
}

type entry struct {
	offset int64
	done   bool
	at     int64 // when fetched, unix nanoseconds: the age of a stall
}

// ticket identifies a tracked record for done.
type ticket struct {
	w   *window
	idx int // absolute index into w.queue (compacted lazily)
	off int64
}

func newOffsetTracker() *offsetTracker {
	return &offsetTracker{parts: make(map[topicPartition]*partitionState)}
}

// add registers a fetched offset and returns its ticket.
func (t *offsetTracker) add(topic string, partition int, offset, hwm int64) ticket {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := topicPartition{topic, partition}
	ps := t.parts[tp]
	if ps == nil {
		ps = &partitionState{commit: -1, committed: -1}
		t.parts[tp] = ps
	}
	if hwm > ps.hwm {
		ps.hwm = hwm
	}
	if ps.cur == nil || offset <= ps.cur.last {
		ps.cur = &window{state: ps, last: offset - 1}
	}
	w := ps.cur
	// Compact when the done prefix is more than half the slice, so the queue
	// stays proportional to what is in flight.
	if w.head > 64 && w.head*2 > len(w.queue) {
		n := copy(w.queue, w.queue[w.head:])
		w.queue = w.queue[:n]
		w.head = 0
	}
	w.queue = append(w.queue, entry{offset: offset, at: nanotime()})
	w.last = offset
	return ticket{w: w, idx: len(w.queue) - 1, off: offset}
}

// done marks a record finished and advances its window's committable
// prefix. It returns how many records that prefix passed which a commit
// already covers: records read again below the committed offset (kafka-go
// re-reads from the group's offset when it rejoins) that no commit will
// ever release, and the records of an older window, which the current one
// counts again; the caller releases them from the uncommitted window
// itself.
func (t *offsetTracker) done(tk ticket) (committed int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := tk.w
	// The queue may have been compacted since the ticket was issued: find the
	// entry from the ticket's offset; entries are in increasing order.
	i := tk.idx
	if i >= len(w.queue) || w.queue[i].offset != tk.off {
		i = w.find(tk.off)
		if i < 0 {
			return 0
		}
	}
	w.queue[i].done = true
	// An older window's finished prefix is released, not committed (see
	// offsetTracker).
	current := w == w.state.cur
	advanced := false
	for w.head < len(w.queue) && w.queue[w.head].done {
		if !current || w.queue[w.head].offset < w.state.committed {
			committed++
		} else {
			w.state.finished++
		}
		w.head++
		advanced = true
	}
	if !advanced || !current {
		return committed
	}
	next := w.queue[w.head-1].offset + 1
	if next > w.state.commit {
		w.state.commit = next
	}
	return committed
}

func (w *window) find(off int64) int {
	lo, hi := w.head, len(w.queue)
	for lo < hi {
		mid := (lo + hi) / 2
		if w.queue[mid].offset < off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(w.queue) && w.queue[lo].offset == off {
		return lo
	}
	return -1
}

// commitPoint is one partition's offset to commit (the next offset to read).
type commitPoint struct {
	topic     string
	partition int
	offset    int64
	records   int64 // finished records below offset not yet committed
}

// pending returns the partitions whose committable offset moved since the
// last markCommitted.
func (t *offsetTracker) pending() []commitPoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []commitPoint
	for tp, ps := range t.parts {
		if ps.commit > ps.committed {
			out = append(out, commitPoint{tp.topic, tp.partition, ps.commit, ps.finished})
		}
	}
	return out
}

// markCommitted records that points were committed and returns how many
// finished records that released (the window of fetched but uncommitted
// records shrinks by as many).
func (t *offsetTracker) markCommitted(points []commitPoint) (released int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range points {
		ps := t.parts[topicPartition{p.topic, p.partition}]
		if ps == nil {
			continue
		}
		if p.offset > ps.committed {
			ps.committed = p.offset
		}
		ps.commitFailures = 0
		n := min(p.records, ps.finished)
		ps.finished -= n
		released += n
	}
	return released
}

// lag is the sum over partitions of high-water mark minus committed offset:
// the records not yet known to be done.
func (t *offsetTracker) lag() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, ps := range t.parts {
		c := ps.committed
		if c < 0 {
			continue
		}
		if ps.hwm > c {
			n += ps.hwm - c
		}
	}
	return n
}

// oldestUnfinished is the age of the oldest record fetched and not yet
// finished, and where it is ("topic/partition@offset"); 0 when none.
func (t *offsetTracker) oldestUnfinished(now time.Time) (time.Duration, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var oldest int64
	where := ""
	for tp, ps := range t.parts {
		w := ps.cur
		if w == nil || w.head >= len(w.queue) {
			continue
		}
		// The head is the first unfinished entry: done ones were passed.
		e := w.queue[w.head]
		if oldest == 0 || e.at < oldest {
			oldest = e.at
			where = tp.topic + "/" + strconv.Itoa(tp.partition) + "@" + strconv.FormatInt(e.offset, 10)
		}
	}
	if oldest == 0 {
		return 0, ""
	}
	return max(0, now.Sub(time.Unix(0, oldest))), where
}

// nanotime is the wall clock in unix nanoseconds.
func nanotime() int64 { return time.Now().UnixNano() }

// commitFailed counts a failed commit of p's partition and returns how many
// rounds in a row have failed.
func (t *offsetTracker) commitFailed(p commitPoint) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := t.parts[topicPartition{p.topic, p.partition}]
	if ps == nil {
		return 0
	}
	ps.commitFailures++
	return ps.commitFailures
}

// suspect reports whether commits of p's partition failed lately.
func (t *offsetTracker) suspect(p commitPoint) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := t.parts[topicPartition{p.topic, p.partition}]
	return ps != nil && ps.commitFailures > 0
}

// anySuspect reports whether any of points is suspect.
func (t *offsetTracker) anySuspect(points []commitPoint) bool {
	for _, p := range points {
		if t.suspect(p) {
			return true
		}
	}
	return false
}

// failures is how many commit rounds in a row failed for p's partition.
func (t *offsetTracker) failures(p commitPoint) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ps := t.parts[topicPartition{p.topic, p.partition}]; ps != nil {
		return ps.commitFailures
	}
	return 0
}

// releaseGivenUp takes the finished records of partitions whose commits
// failed at least n rounds in a row out of the window, and returns how
// many; their commit points stay, to be tried again now and then.
func (t *offsetTracker) releaseGivenUp(n int) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var released int64
	for _, ps := range t.parts {
		if ps.commitFailures >= n && ps.finished > 0 {
			released += ps.finished
			ps.finished = 0
		}
	}
	return released
}
