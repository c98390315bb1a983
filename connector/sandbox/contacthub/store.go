package contacthub

import (
	"slices"
	"sort"
	"strconv"
	"sync"
)

// The operations and entity types of the update stream, as the reference
// names them.
const (
	operationCreate = "CREATE"
	operationUpdate = "UPDATE"
	operationDelete = "DELETE"
	entityCustomer  = "CUSTOMER"
	entityEvent     = "EVENT"
)

// entityKind is the entity an update is about; kindAny stands for "no
// entity filter" in index keys.
type entityKind uint8

const (
	kindAny entityKind = iota
	kindCustomer
	kindEvent
)

func (k entityKind) String() string {
	switch k {
	case kindCustomer:
		return entityCustomer
	case kindEvent:
		return entityEvent
	}
	return ""
}

func parseEntityKind(s string) (entityKind, bool) {
	switch s {
	case entityCustomer:
		return kindCustomer, true
	case entityEvent:
		return kindEvent, true
	}
	return kindAny, false
}

// change is an update before it has an offset.
type change struct {
	operation string
	kind      entityKind
	node      string
	millis    int64  // when the entity was modified (epoch millis)
	data      []byte // the entity as JSON
}

// logEntry is one update of the log. Its JSON is encoded once, on append,
// so that serving a page is copying bytes, whatever the page size.
type logEntry struct {
	millis int64
	json   []byte
}

// offsetIndex lists, in order, the offsets of the updates matching one
// filter, so a filtered page is a binary search and a slice walk instead of
// a scan of the whole log.
type offsetIndex struct {
	offsets []int64 // offsets[head:] are live; a prefix may be older than the log
	head    int
	last    int64 // last offset ever appended, even if dropped since
}

// filterKey names the updates an index holds: node "" and kindAny mean "any".
type filterKey struct {
	node string
	kind entityKind
}

// updateLog is the update stream: offsets 1, 2, 3, ... without gaps, at most
// max of them retained. Each update's JSON carries its offset only with
// withOffsets (Config.UpdateOffsets): the reference shows none. It is a ring so that memory stays bounded by max
// entries however long the sandbox runs. Readers share the lock; only
// appends take it exclusively, for the time of encoding one batch.
type updateLog struct {
	mu          sync.RWMutex
	max         int
	withOffsets bool
	ring        []logEntry // grows by doubling up to max, then wraps
	start       int        // ring position of the oldest retained update
	count       int
	last        int64 // offset of the newest update; 0 when none was ever appended
	lastMillis  int64
	index       map[filterKey]*offsetIndex
	// slab is where the next encoded update goes. Updates are packed into
	// shared slabs rather than allocated one by one: millions of small
	// objects would cost the GC and the allocator's size classes far more
	// than their bytes. A slab is freed once the ring has dropped every
	// update in it, which happens in order, since both fill in offset order.
	slab []byte
}

// slabSize is large enough to amortise allocation over ~2,000 updates and
// small enough that the memory held past the retention bound is negligible.
const slabSize = 1 << 20

// updateOverhead bounds what appendUpdate adds around an entity's data: the
// fixed text, an int64 offset and the longest operation and entity names.
const updateOverhead = len(`{"offset":,"operation":"","entity":{"type":"","data":}}`) + 20 + 6 + 8

func newUpdateLog(max int, withOffsets bool) *updateLog {
	return &updateLog{max: max, withOffsets: withOffsets, index: make(map[filterKey]*offsetIndex)}
}

// first is the offset of the oldest retained update (last+1 when empty).
func (l *updateLog) first() int64 { return l.last - int64(l.count) + 1 }

// at returns the update at a retained offset.
func (l *updateLog) at(offset int64) *logEntry {
	p := l.start + int(offset-l.first())
	if p >= len(l.ring) {
		p -= len(l.ring)
	}
	return &l.ring[p]
}

// append gives the changes the next offsets and returns the last one.
func (l *updateLog) append(changes []change) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range changes {
		c := &changes[i]
		l.last++
		// The timestamp filter binary-searches modification times, so they
		// must not go backwards even if the clock does.
		l.lastMillis = max(l.lastMillis, c.millis)
		e := logEntry{millis: l.lastMillis, json: l.encode(l.last, c)}
		if l.count == len(l.ring) && l.count < l.max {
			l.grow()
		}
		if l.count < len(l.ring) {
			p := l.start + l.count
			if p >= len(l.ring) {
				p -= len(l.ring)
			}
			l.ring[p] = e
			l.count++
		} else {
			// Full: the newest takes the place of the oldest.
			l.ring[l.start] = e
			l.start++
			if l.start == len(l.ring) {
				l.start = 0
			}
		}
		l.indexOffset(filterKey{c.node, c.kind}, l.last)
		l.indexOffset(filterKey{c.node, kindAny}, l.last)
		l.indexOffset(filterKey{"", c.kind}, l.last)
	}
	return l.last
}

func (l *updateLog) grow() {
	n := min(l.max, max(1024, 2*len(l.ring)))
	ring := make([]logEntry, n)
	k := copy(ring, l.ring[l.start:])
	copy(ring[k:], l.ring[:l.start])
	l.ring, l.start = ring, 0
}

func (l *updateLog) indexOffset(k filterKey, offset int64) {
	ix := l.index[k]
	if ix == nil {
		ix = &offsetIndex{}
		l.index[k] = ix
	}
	ix.offsets = append(ix.offsets, offset)
	ix.last = offset
	// Forget offsets the ring dropped, and give the memory back once they
	// are half of the slice, so each index stays within twice the log.
	first := l.first()
	if ix.offsets[ix.head] < first {
		i, _ := slices.BinarySearch(ix.offsets[ix.head:], first)
		ix.head += i
	}
	if ix.head > 1024 && ix.head > len(ix.offsets)/2 {
		n := copy(ix.offsets, ix.offsets[ix.head:])
		ix.offsets = ix.offsets[:n]
		ix.head = 0
	}
}

// encode writes the update into the slab and returns it, capped so that no
// append through it can reach the next update.
func (l *updateLog) encode(offset int64, c *change) []byte {
	if need := len(c.data) + updateOverhead; cap(l.slab)-len(l.slab) < need {
		l.slab = make([]byte, 0, max(slabSize, need))
	}
	start := len(l.slab)
	l.slab = appendUpdate(l.slab, offset, c, l.withOffsets)
	return l.slab[start:len(l.slab):len(l.slab)]
}

// appendUpdate encodes an update as the reference shows it, {"operation":
// ..., "entity": {"type": ..., "data": ...}}, with the offset first when
// withOffset.
func appendUpdate(b []byte, offset int64, c *change, withOffset bool) []byte {
	if withOffset {
		b = append(b, `{"offset":`...)
		b = strconv.AppendInt(b, offset, 10)
		b = append(b, `,"operation":"`...)
	} else {
		b = append(b, `{"operation":"`...)
	}
	b = append(b, c.operation...)
	b = append(b, `","entity":{"type":"`...)
	b = append(b, c.kind.String()...)
	b = append(b, `","data":`...)
	b = append(b, c.data...)
	return append(b, "}}"...)
}

// lastOffset is the offset of the newest update matching k, 0 if none.
func (l *updateLog) lastOffset(k filterKey) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if k == (filterKey{}) {
		return l.last
	}
	if ix := l.index[k]; ix != nil {
		return ix.last
	}
	return 0
}

// pageQuery is a validated update stream request.
type pageQuery struct {
	after       int64 // the greatest offset the client knows
	hasAfter    bool
	sinceMillis int64 // used only without after
	hasSince    bool
	size        int
	key         filterKey
}

// page appends to dst the encoded updates the query asks for and returns
// them with the nextOffset of the answer: the offset of the last update
// returned, or, on an empty page, the offset the client should resume from
// (the one it gave, or the position its timestamp resolved to).
func (l *updateLog) page(q pageQuery, dst [][]byte) ([][]byte, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	after := q.after
	switch {
	case q.hasAfter:
	case q.hasSince:
		after = l.offsetBefore(q.sinceMillis)
	default:
		after = l.first() - 1
	}
	if q.size == 0 || after >= l.last {
		return dst, after
	}
	// An offset older than the log resumes from the oldest retained update:
	// the client has lost what was dropped either way.
	from := max(after, l.first()-1)
	if q.key == (filterKey{}) {
		n := min(int64(q.size), l.last-from)
		for o := from + 1; o <= from+n; o++ {
			dst = append(dst, l.at(o).json)
		}
		return dst, from + n
	}
	ix := l.index[q.key]
	if ix == nil {
		return dst, after
	}
	live := ix.offsets[ix.head:]
	i, found := slices.BinarySearch(live, from)
	if found {
		i++
	}
	live = live[i:min(len(live), i+q.size)]
	if len(live) == 0 {
		return dst, after
	}
	for _, o := range live {
		dst = append(dst, l.at(o).json)
	}
	return dst, live[len(live)-1]
}

// offsetBefore returns the offset just before the first retained update
// modified at or after millis, or the last offset if there is none, so that
// resuming from it neither skips nor repeats anything.
func (l *updateLog) offsetBefore(millis int64) int64 {
	i := sort.Search(l.count, func(i int) bool {
		p := l.start + i
		if p >= len(l.ring) {
			p -= len(l.ring)
		}
		return l.ring[p].millis >= millis
	})
	return l.first() - 1 + int64(i)
}
