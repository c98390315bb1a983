package contacthub

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// orderHarness drives a customerOrder by hand: records in, calls out, a
// clock that moves only when told.
type orderHarness struct {
	t     *testing.T
	o     *customerOrder
	clock *testkit.Clock

	mu        sync.Mutex
	outcomes  map[int64]error
	deadlines []deadline
}

type deadline struct {
	t  timeout
	at time.Time
}

func newOrderHarness(t *testing.T, window, hold time.Duration) *orderHarness {
	h := &orderHarness{t: t, clock: testkit.NewClock(time.Unix(1_700_000_000, 0)), outcomes: map[int64]error{}}
	h.o = newCustomerOrder(window, hold, func(t timeout, at time.Time) { h.deadlines = append(h.deadlines, deadline{t, at}) })
	h.o.now = h.clock.Now
	return h
}

func (h *orderHarness) done(r *streams.Record, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outcomes[r.Offset] = err
}

// rec adds a record of customer key at offset of partition 0 (attempt 1).
func (h *orderHarness) rec(key string, offset int64) *customerCall {
	return h.recAt(key, 0, offset, 1)
}

func (h *orderHarness) recAt(key string, partition int, offset int64, attempts int) *customerCall {
	r := &streams.Record{Topic: "customers", Partition: partition, Offset: offset, Key: []byte(key), Attempts: attempts}
	c := &customerCall{rec: r, done: h.done, op: &schemas.CustomerRecord{Operation: schemas.CustomerOpCreate}, key: key, pos: posOf(r)}
	h.o.add(c)
	return c
}

// takeAll takes every call that may go now, finishing none.
func (h *orderHarness) takeAll() []int64 { return h.takeEach(nil) }

// runAll takes and finishes calls until none may go, in the order taken.
func (h *orderHarness) runAll(outcome func(*customerCall) error) []int64 {
	return h.takeEach(func(l *customerLine, c *customerCall) { h.o.finish(l, c, outcome(c)) })
}

// takeEach takes calls until none may go, passing each to then (if not
// nil), and returns their offsets in the order taken.
func (h *orderHarness) takeEach(then func(*customerLine, *customerCall)) []int64 {
	var got []int64
	for {
		l, c, ok := h.o.take()
		if !ok {
			return got
		}
		got = append(got, c.pos.offset)
		if then != nil {
			then(l, c)
		}
	}
}

func ok(*customerCall) error { return nil }

// advance moves the clock and fires every deadline due by then, earliest
// first, as the sink's clock does.
func (h *orderHarness) advance(d time.Duration) {
	h.clock.Advance(d)
	now := h.clock.Now()
	for {
		i := slices.IndexFunc(h.deadlines, func(x deadline) bool { return !x.at.After(now) })
		if i < 0 {
			return
		}
		for j, x := range h.deadlines {
			if x.at.Before(h.deadlines[i].at) {
				i = j
			}
		}
		t := h.deadlines[i].t
		h.deadlines = slices.Delete(h.deadlines, i, i+1)
		h.o.fire(t)
	}
}

func TestOrderRestoresOffsetOrder(t *testing.T) {
	h := newOrderHarness(t, 50*time.Millisecond, time.Second)
	// The first records of a partition wait a window: a lower offset may
	// still be on its way.
	h.rec("a", 11)
	h.rec("a", 10)
	if got := h.takeAll(); got != nil {
		t.Fatalf("sent %v before the window passed", got)
	}
	h.advance(50 * time.Millisecond)
	if got := h.runAll(ok); !slices.Equal(got, []int64{10, 11}) {
		t.Fatalf("sent %v, want 10 11", got)
	}
	// From then on, records in order go at once...
	h.rec("a", 12)
	if got := h.runAll(ok); !slices.Equal(got, []int64{12}) {
		t.Fatalf("sent %v, want 12", got)
	}
	// ...and one ahead of its turn waits for the one before it.
	h.rec("a", 14)
	h.rec("b", 15)
	if got := h.runAll(ok); got != nil {
		t.Fatalf("sent %v while 13 was missing", got)
	}
	h.rec("c", 13)
	if got := h.runAll(ok); !slices.Equal(got, []int64{13, 14, 15}) {
		t.Fatalf("sent %v, want 13 14 15", got)
	}
	if st := h.o.snapshot(); st.Reordered != 2 || st.GapsSkipped != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// orderHarnessAwaiting2 is a harness with a window of 50ms that sent
// offset 1 once its window passed and holds 3, which waits for 2.
func orderHarnessAwaiting2(t *testing.T) *orderHarness {
	h := newOrderHarness(t, 50*time.Millisecond, time.Second)
	h.rec("a", 1)
	h.advance(50 * time.Millisecond)
	h.runAll(ok)
	h.rec("a", 3)
	return h
}

// A hole that stays open for the window is a gap in the offsets
// (compaction, transaction markers); what fills it later is late.
func TestOrderSkipsGapsAfterTheWindow(t *testing.T) {
	h := orderHarnessAwaiting2(t)
	h.advance(30 * time.Millisecond)
	h.rec("a", 5)
	h.advance(20 * time.Millisecond) // 3 has waited the window, 5 has not
	if got := h.runAll(ok); !slices.Equal(got, []int64{3}) {
		t.Fatalf("sent %v, want 3 alone", got)
	}
	h.rec("b", 2)
	if got := h.runAll(ok); !slices.Equal(got, []int64{2}) {
		t.Fatalf("late record: sent %v, want it at once", got)
	}
	h.advance(30 * time.Millisecond)
	if got := h.runAll(ok); !slices.Equal(got, []int64{5}) {
		t.Fatalf("sent %v, want 5", got)
	}
	if st := h.o.snapshot(); st.GapsSkipped != 2 || st.Late != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A customer has one call in flight; the others wait in offset order,
// while other customers go on.
func TestOrderOneCallPerCustomer(t *testing.T) {
	h := newOrderHarness(t, -1, time.Second) // arrival order: this test is about customers
	for _, c := range []struct {
		key string
		off int64
	}{{"a", 1}, {"a", 2}, {"b", 3}, {"a", 4}, {"b", 5}, {"", 6}, {"", 7}} {
		h.rec(c.key, c.off)
	}
	// One of a, one of b, and both keyless records, which keep no order.
	first := h.takeAll()
	if !slices.Equal(first, []int64{1, 3, 6, 7}) {
		t.Fatalf("first calls %v, want 1 3 6 7", first)
	}
	if st := h.o.snapshot(); st.Customers != 2 || st.Waiting != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// Across partitions a customer's records keep arrival order; within one,
// offset order even when they arrive the other way round.
func TestOrderWithinAndAcrossPartitions(t *testing.T) {
	h := newOrderHarness(t, -1, time.Second)
	busy := h.rec("a", 100)
	l, c, _ := h.o.take()
	h.recAt("a", 1, 7, 1)
	h.recAt("a", 0, 102, 1)
	h.recAt("a", 0, 101, 1)
	h.recAt("a", 1, 6, 1)
	h.o.finish(l, c, nil)
	if busy != c {
		t.Fatal("took another call than the first")
	}
	// Within a partition offsets decide (101 before 102, 6 before 7, though
	// each arrived after the other); across partitions arrival does
	// (partition 1's 7 arrived before partition 0's records).
	want := []int64{6, 7, 101, 102}
	if got := h.runAll(ok); !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// A call that fails with a retryable error holds its customer until the
// runtime hands the record back; the record then goes first.
func TestOrderHoldsBehindARetry(t *testing.T) {
	h := newOrderHarness(t, -1, time.Second)
	h.rec("a", 1)
	h.rec("a", 2)
	h.rec("b", 3)
	fail := errors.New("connection reset")
	got := h.runAll(func(c *customerCall) error {
		if c.pos.offset == 1 {
			return fail
		}
		return nil
	})
	if !slices.Equal(got, []int64{1, 3}) {
		t.Fatalf("sent %v, want 1 then only b's 3", got)
	}
	if !errors.Is(h.outcomes[1], fail) {
		t.Fatalf("outcome of 1: %v", h.outcomes[1])
	}
	h.advance(500 * time.Millisecond)
	if got := h.runAll(ok); got != nil {
		t.Fatalf("sent %v while 1 waits for its retry", got)
	}
	// The runtime hands 1 back (its second attempt).
	h.recAt("a", 0, 1, 2)
	if got := h.runAll(ok); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("sent %v, want 1 2", got)
	}
	if st := h.o.snapshot(); st.RetryHolds != 1 || st.HoldsExpired != 0 || st.Customers != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A record that does not come back (dead-lettered as retries_exhausted)
// releases its customer after the hold, plus the answer's Retry-After.
func TestOrderHoldExpires(t *testing.T) {
	h := newOrderHarness(t, -1, time.Second)
	h.rec("a", 1)
	h.rec("a", 2)
	throttled := &httpapi.StatusError{API: "contacthub", Route: "POST /x", Status: 429, Retry: 2 * time.Second}
	h.runAll(func(c *customerCall) error { return throttled })
	h.advance(2900 * time.Millisecond)
	if got := h.runAll(ok); got != nil {
		t.Fatalf("sent %v before hold and Retry-After passed", got)
	}
	h.advance(100 * time.Millisecond)
	if got := h.runAll(ok); !slices.Equal(got, []int64{2}) {
		t.Fatalf("sent %v, want 2", got)
	}
	// A rejection holds nothing: the record is dead-lettered, not retried.
	h.rec("a", 3)
	h.rec("a", 4)
	rejected := &httpapi.StatusError{API: "contacthub", Route: "POST /x", Status: 404}
	if got := h.runAll(func(c *customerCall) error { return rejected }); !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("sent %v after a rejection, want 3 4", got)
	}
	if st := h.o.snapshot(); st.HoldsExpired != 1 || st.RetryHolds != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Drain sends what waits for a hole at once; records handed over after it
// (retries) are not held back either.
func TestOrderDrainReleasesHeldRecords(t *testing.T) {
	h := newOrderHarness(t, time.Hour, time.Second)
	h.rec("a", 5)
	h.rec("b", 7)
	if got := h.takeAll(); got != nil {
		t.Fatalf("sent %v inside the window", got)
	}
	h.o.drain()
	if got := h.runAll(ok); !slices.Equal(got, []int64{5, 7}) {
		t.Fatalf("sent %v after Drain, want 5 7", got)
	}
	h.rec("c", 20)
	if got := h.runAll(ok); !slices.Equal(got, []int64{20}) {
		t.Fatalf("sent %v after Drain, want 20 at once", got)
	}
}

// An invalid record (answered in Write) still marks its offset as seen, so
// the records behind it do not wait the window for it.
func TestOrderPassMarksOffsets(t *testing.T) {
	h := orderHarnessAwaiting2(t)
	h.o.pass(&streams.Record{Topic: "customers", Partition: 0, Offset: 2, Attempts: 1})
	if got := h.runAll(ok); !slices.Equal(got, []int64{3}) {
		t.Fatalf("sent %v, want 3 without waiting", got)
	}
	if st := h.o.snapshot(); st.Waiting != 0 || st.GapsSkipped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkOrderInOrder is the steady state: records in offset order, each
// call finished before the next record.
func BenchmarkOrderInOrder(b *testing.B) {
	o := newCustomerOrder(50*time.Millisecond, time.Second, func(timeout, time.Time) {})
	o.parts[partitionKey{"t", 0}] = &partitionOrder{next: 0}
	done := func(*streams.Record, error) {}
	op := &schemas.CustomerRecord{Operation: schemas.CustomerOpCreate}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("C-%d", i)
	}
	b.ReportAllocs()
	for i := range b.N {
		r := &streams.Record{Topic: "t", Offset: int64(i), Attempts: 1}
		k := keys[i%len(keys)]
		o.add(&customerCall{rec: r, done: done, op: op, key: k, pos: posOf(r)})
		if l, c, ok := o.take(); ok {
			o.finish(l, c, nil)
		}
	}
}
