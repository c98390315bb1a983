package ups

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
)

func newTestBatcher(cfg BatcherConfig) (*Batcher, *testkit.Clock) {
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = 1000
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 50 * 1024
	}
	if cfg.MaxJobAttempts == 0 {
		cfg.MaxJobAttempts = 3
	}
	if cfg.RetryMemory == 0 {
		cfg.RetryMemory = time.Minute
	}
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := NewBatcher(cfg)
	b.now = clock.Now
	return b, clock
}

// rec is a record for a test: user, offset on partition 0 of "t", and a
// value made unique by the offset unless given.
type rec struct {
	user   string
	offset int64
	value  string
}

func (r rec) entry() *entry {
	v := r.value
	if v == "" {
		v = fmt.Sprintf(`{"a":["v%d"]}`, r.offset)
	}
	return &entry{
		user: r.user,
		data: []byte(`{"userId":"` + r.user + `","value":` + v + `}`),
		pos:  position{topic: "t", partition: 0, offset: r.offset},
	}
}

// admit admits recs as one Write call, and returns what collects their
// outcomes. The Batcher reports outcomes from the goroutine that resolves
// them, which in these tests is the test's own.
func admit(b *Batcher, recs ...rec) *outcomes {
	es := make([]*entry, len(recs))
	for i, r := range recs {
		es[i] = r.entry()
	}
	return admitEntries(b, es...)
}

// admitEntries admits es, giving each a Kafka record and a Done.
func admitEntries(b *Batcher, es ...*entry) *outcomes {
	batch := make([]*streams.Record, len(es))
	for i, e := range es {
		batch[i] = &streams.Record{Topic: e.pos.topic, Partition: e.pos.partition, Offset: e.pos.offset}
	}
	call := newOutcomes(nil, batch)
	for i, e := range es {
		e.rec, e.done = batch[i], call.done
	}
	b.Admit(es)
	return call
}

func isDone(c *outcomes) bool {
	select {
	case <-c.all:
		return true
	default:
		return false
	}
}

// sent decodes a request body into its records' user ids and values.
func sent(t *testing.T, req *request) (users []string, values []string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(req.body))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Data []struct {
			UserID string          `json:"userId"`
			Value  json.RawMessage `json:"value"`
		} `json:"data"`
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		t.Fatalf("body is not an enrichment payload: %v\n%s", err, plain)
	}
	if len(p.Data) != len(req.entries) {
		t.Fatalf("body holds %d records, request %d", len(p.Data), len(req.entries))
	}
	for _, d := range p.Data {
		users = append(users, d.UserID)
		values = append(values, string(d.Value))
	}
	return users, values
}

// next is b.Next, failing the test on an error.
func next(t testing.TB, b *Batcher, max int) *request {
	t.Helper()
	req, err := b.Next(max)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestBatcherFillsRequestsToTheRecordLimit(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{MaxRecords: 1000})
	var recs []rec
	for i := range 2500 {
		recs = append(recs, rec{user: fmt.Sprintf("u%05d", i), offset: int64(i)})
	}
	call := admit(b, recs...)
	if ready, _ := b.Ready(); !ready {
		t.Fatal("a queue holding more than a request is not ready")
	}
	var sizes []int
	var order []string
	for {
		req := next(t, b, 1000)
		if req == nil {
			break
		}
		if len(req.body) > 50*1024 {
			t.Fatalf("body of %d bytes exceeds the limit", len(req.body))
		}
		users, _ := sent(t, req)
		order = append(order, users...)
		sizes = append(sizes, len(req.entries))
		b.Accepted(req)
		b.JobCompleted(req.entries)
	}
	if fmt.Sprint(sizes) != "[1000 1000 500]" {
		t.Fatalf("request sizes %v, want [1000 1000 500]", sizes)
	}
	for i, u := range order {
		if u != recs[i].user {
			t.Fatalf("record %d sent is %s, want %s: arrival order not kept", i, u, recs[i].user)
		}
	}
	if !isDone(call) || b.Pending() != 0 || b.Users() != 0 {
		t.Fatalf("after every job completed: done=%v pending=%d users=%d", isDone(call), b.Pending(), b.Users())
	}
}

func TestBatcherFillsRequestsToTheBodyLimit(t *testing.T) {
	// Random values compress poorly, so the body limit binds long before
	// the record limit. Several sizes, because the sizing starts from an
	// estimate that each case gets wrong in another way.
	for _, size := range []int{200, 900, 5000, 30000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			const limit = 50 * 1024
			b, _ := newTestBatcher(BatcherConfig{MaxRecords: 1000, MaxBodyBytes: limit})
			rnd := rand.New(rand.NewPCG(uint64(size), 1))
			var recs []rec
			for i := range 600 * 1000 / size {
				buf := make([]byte, size/2)
				for k := range buf {
					buf[k] = byte(rnd.UintN(256))
				}
				recs = append(recs, rec{user: fmt.Sprintf("u%05d", i), offset: int64(i), value: fmt.Sprintf(`{"blob":["%x"]}`, buf)})
			}
			admit(b, recs...)
			total := 0
			for {
				req := next(t, b, 1000)
				if req == nil {
					break
				}
				sent(t, req)
				total += len(req.entries)
				if len(req.body) > limit {
					t.Fatalf("body of %d bytes exceeds %d", len(req.body), limit)
				}
				more := b.Ready // the last request may be partial
				if ready, _ := more(); ready && float64(len(req.body)) < 0.9*limit {
					t.Fatalf("request of %d records holds %d bytes: under 90%% of the limit while more records waited", len(req.entries), len(req.body))
				}
				b.Accepted(req)
				b.JobCompleted(req.entries)
			}
			if total != len(recs) {
				t.Fatalf("sent %d records, want %d", total, len(recs))
			}
		})
	}
}

func TestBatcherRejectsWhatCannotFitAlone(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{MaxBodyBytes: 2048})
	small := rec{user: "u1", offset: 1}.entry()
	if ok, err := b.fits(small.data); err != nil || !ok {
		t.Fatalf("a small record does not fit: %v %v", ok, err)
	}
	// Compressible but long: fits only because it compresses.
	long := rec{user: "u1", offset: 1, value: `{"a":["` + strings.Repeat("x", 10000) + `"]}`}.entry()
	if ok, err := b.fits(long.data); err != nil || !ok {
		t.Fatalf("a compressible record of %d bytes does not fit: %v %v", len(long.data), ok, err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 3000)
	for i := range buf {
		buf[i] = byte(rnd.UintN(256))
	}
	huge := rec{user: "u1", offset: 1, value: fmt.Sprintf(`{"a":["%x"]}`, buf)}.entry()
	if ok, err := b.fits(huge.data); err != nil || ok {
		t.Fatalf("an incompressible record of %d bytes fits in 2048: %v %v", len(huge.data), ok, err)
	}
}

func TestBatcherCoalescesUpdatesOfOneUser(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{})
	call := admit(b,
		rec{user: "alice", offset: 1}, rec{user: "bob", offset: 2},
		rec{user: "alice", offset: 3}, rec{user: "alice", offset: 4})
	req := next(t, b, 1000)
	users, values := sent(t, req)
	if fmt.Sprint(users) != "[bob alice]" || values[1] != `{"a":["v4"]}` {
		t.Fatalf("sent %v %v; want bob and alice's latest only", users, values)
	}
	if st := b.Stats(); st.Coalesced != 2 {
		t.Fatalf("coalesced %d, want 2", st.Coalesced)
	}
	b.Accepted(req)
	b.JobCompleted(req.entries)
	if !isDone(call) {
		t.Fatal("call not done")
	}
	for i, err := range call.errs {
		if err != nil {
			t.Fatalf("record %d: %v; a replaced record counts as delivered", i, err)
		}
	}
}

func TestBatcherKeepsOneRecordPerUserInFlight(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{})
	admit(b, rec{user: "alice", offset: 1}, rec{user: "bob", offset: 2})
	first := next(t, b, 1000)
	b.Accepted(first)

	// alice's next updates arrive while her first is in its job: they wait,
	// and only the newest of them is kept.
	second := admit(b, rec{user: "alice", offset: 5}, rec{user: "carol", offset: 6})
	third := admit(b, rec{user: "alice", offset: 7})
	req := next(t, b, 1000)
	if users, _ := sent(t, req); fmt.Sprint(users) != "[carol]" {
		t.Fatalf("sent %v while alice's record was in flight; want carol only", users)
	}
	if next(t, b, 1000) != nil {
		t.Fatal("a request was built with alice's record still in flight")
	}
	if !isDone(second) && second.errs[0] != nil {
		t.Fatalf("the replaced record got %v", second.errs[0])
	}
	b.Accepted(req)
	b.JobCompleted(first.entries)
	req = next(t, b, 1000)
	if users, values := sent(t, req); fmt.Sprint(users) != "[alice]" || values[0] != `{"a":["v7"]}` {
		t.Fatalf("after alice's job ended, sent %v %v; want her newest", users, values)
	}
	b.Accepted(req)
	b.JobCompleted(req.entries)
	if !isDone(third) {
		t.Fatal("third call not done")
	}
}

func TestBatcherOrdersByOffsetWhateverTheArrival(t *testing.T) {
	// Two Write calls of one partition race: the later offsets arrive first.
	b, _ := newTestBatcher(BatcherConfig{})
	later := admit(b, rec{user: "alice", offset: 10})
	earlier := admit(b, rec{user: "alice", offset: 4}, rec{user: "bob", offset: 5})
	if earlier.errs[0] != nil || earlier.pending != 1 {
		t.Fatalf("the older record was not resolved at once as replaced: pending %d err %v", earlier.pending, earlier.errs[0])
	}
	req := next(t, b, 1000)
	if users, values := sent(t, req); fmt.Sprint(users) != "[alice bob]" || values[0] != `{"a":["v10"]}` {
		t.Fatalf("sent %v %v; want alice's offset 10", users, values)
	}
	b.Accepted(req)
	b.JobCompleted(req.entries)
	if !isDone(later) || !isDone(earlier) {
		t.Fatal("calls not done")
	}
}

func TestBatcherResendsFailedJobsThenRejects(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{MaxJobAttempts: 2})
	call := admit(b, rec{user: "alice", offset: 1}, rec{user: "bob", offset: 2})
	reject := func(attempts int) error {
		return streams.Reject("job_failed", &JobFailedError{JobID: "j", Attempts: attempts, Messages: []string{"cassandra"}})
	}
	req := next(t, b, 1000)
	if req.attempt() != 1 {
		t.Fatalf("first attempt is %d", req.attempt())
	}
	b.Accepted(req)
	// bob gets a newer update meanwhile: his failed record is replaced
	// rather than sent again.
	newer := admit(b, rec{user: "bob", offset: 3})
	if n := b.JobFailed(req.entries, reject); n != 1 {
		t.Fatalf("queued again %d records, want alice's only", n)
	}
	req = next(t, b, 1000)
	users, values := sent(t, req)
	if fmt.Sprint(users) != "[alice bob]" || values[1] != `{"a":["v3"]}` || req.attempt() != 2 {
		t.Fatalf("second request %v %v attempt %d; want alice again and bob's newer, attempt 2", users, values, req.attempt())
	}
	b.Accepted(req)
	if n := b.JobFailed(req.entries, reject); n != 1 {
		t.Fatalf("queued again %d, want bob's newer (its first failure) only", n)
	}
	if !isDone(call) {
		t.Fatal("alice's call should be done after her second failure")
	}
	var re *streams.RejectError
	if !errors.As(call.errs[0], &re) || re.Reason != "job_failed" || !strings.Contains(call.errs[0].Error(), "cassandra") {
		t.Fatalf("alice's outcome %v, want a job_failed rejection with the status message", call.errs[0])
	}
	if call.errs[1] != nil {
		t.Fatalf("bob's replaced record got %v", call.errs[1])
	}
	req = next(t, b, 1000)
	b.Accepted(req)
	b.JobCompleted(req.entries)
	if !isDone(newer) || newer.errs[0] != nil {
		t.Fatalf("bob's newer record: done %v err %v", isDone(newer), newer.errs[0])
	}
}

func TestBatcherRemembersRecordsHandedBackForRetry(t *testing.T) {
	b, clock := newTestBatcher(BatcherConfig{RetryMemory: time.Minute})
	old := admit(b, rec{user: "alice", offset: 1})
	req := next(t, b, 1000)
	b.Fail(req, errors.New("HTTP 503"))
	if !isDone(old) || old.errs[0] == nil {
		t.Fatal("a failed request's record was not handed back with its error")
	}
	// A newer update is sent and completes while the old one waits for
	// the runtime's retry.
	admit(b, rec{user: "alice", offset: 2})
	req = next(t, b, 1000)
	b.Accepted(req)
	b.JobCompleted(req.entries)
	// The old one comes back: it must not overwrite the newer.
	again := admit(b, rec{user: "alice", offset: 1})
	if !isDone(again) || again.errs[0] != nil {
		t.Fatal("the retried record was not resolved as replaced")
	}
	if req := next(t, b, 1000); req != nil {
		t.Fatal("the retried old record was sent after its newer one")
	}
	if b.Users() != 1 {
		t.Fatalf("users %d: the handed-back record should still be remembered", b.Users())
	}
	clock.Advance(2 * time.Minute)
	admit(b, rec{user: "zed", offset: 9}) // any admission sweeps
	if b.Users() != 1 {                   // zed only
		t.Fatalf("users %d after the memory expired, want 1", b.Users())
	}
}

func TestBatcherRetryNotNeededWhenANewerRecordWaits(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{})
	old := admit(b, rec{user: "alice", offset: 1})
	req := next(t, b, 1000)
	admit(b, rec{user: "alice", offset: 2})
	b.Fail(req, errors.New("HTTP 503"))
	if !isDone(old) || old.errs[0] != nil {
		t.Fatalf("the failed record with a newer one waiting got %v; want delivered (replaced)", old.errs[0])
	}
}

func TestBatcherSplitsAndRequeuesAsPinnedGroups(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{})
	var recs []rec
	for i := range 10 {
		recs = append(recs, rec{user: fmt.Sprintf("u%d", i), offset: int64(i)})
	}
	admit(b, recs...)
	req := next(t, b, 1000)
	b.Split(req)
	admit(b, rec{user: "late", offset: 100})
	first := next(t, b, 1000)
	if u, _ := sent(t, first); fmt.Sprint(u) != "[u0 u1 u2 u3 u4]" {
		t.Fatalf("first half %v", u)
	}
	b.Requeue(first) // a 429: the same request goes again, first
	again := next(t, b, 1000)
	if again != first {
		t.Fatal("a requeued request was not sent again as it was")
	}
	second := next(t, b, 1000)
	if u, _ := sent(t, second); fmt.Sprint(u) != "[u5 u6 u7 u8 u9]" {
		t.Fatalf("second half %v", u)
	}
	last := next(t, b, 1000)
	if u, _ := sent(t, last); fmt.Sprint(u) != "[late]" {
		t.Fatalf("after the halves, %v", u)
	}
}

func TestBatcherLingersForPartialRequests(t *testing.T) {
	b, clock := newTestBatcher(BatcherConfig{MaxRecords: 10, Linger: 50 * time.Millisecond})
	admit(b, rec{user: "a", offset: 1})
	ready, at := b.Ready()
	if ready || !at.Equal(clock.Now().Add(50*time.Millisecond)) {
		t.Fatalf("a lone record is ready=%v at %v; want to linger 50ms", ready, at)
	}
	clock.Advance(50 * time.Millisecond)
	if ready, _ := b.Ready(); !ready {
		t.Fatal("not ready after the linger")
	}
	var recs []rec
	for i := range 10 {
		recs = append(recs, rec{user: fmt.Sprintf("u%d", i), offset: int64(10 + i)})
	}
	b2, _ := newTestBatcher(BatcherConfig{MaxRecords: 10, Linger: time.Hour})
	admit(b2, recs...)
	if ready, _ := b2.Ready(); !ready {
		t.Fatal("a full request is not ready at once")
	}
}

func TestBatcherDrainSendsWithoutLinger(t *testing.T) {
	// A graceful stop: what the Batcher holds goes now, not after the
	// linger, and so do records the runtime hands back meanwhile.
	b, _ := newTestBatcher(BatcherConfig{MaxRecords: 10, Linger: time.Hour})
	held := admit(b, rec{user: "alice", offset: 1}, rec{user: "bob", offset: 2})
	if ready, _ := b.Ready(); ready {
		t.Fatal("a partial request is ready before the linger and without a drain")
	}
	b.Drain()
	if ready, _ := b.Ready(); !ready {
		t.Fatal("after Drain, a partial request still lingers")
	}
	req := next(t, b, 1000)
	if users, _ := sent(t, req); fmt.Sprint(users) != "[alice bob]" {
		t.Fatalf("drained %v", users)
	}
	b.Fail(req, errors.New("HTTP 503"))
	if !isDone(held) || b.Pending() != 0 {
		t.Fatalf("after the failure: done %v, pending %d", isDone(held), b.Pending())
	}
	// The runtime hands alice back for a retry during the grace.
	retried := admit(b, rec{user: "alice", offset: 1})
	if ready, _ := b.Ready(); !ready {
		t.Fatal("a retry admitted while draining lingers")
	}
	req = next(t, b, 1000)
	b.Accepted(req)
	b.JobCompleted(req.entries)
	if !isDone(retried) || retried.errs[0] != nil || b.Pending() != 0 {
		t.Fatalf("the retried record: done %v, err %v, pending %d", isDone(retried), retried.errs[0], b.Pending())
	}
}

func TestBatcherReportsOutcomesOutsideItsLock(t *testing.T) {
	// A Done that calls back into the Batcher (as a runtime handing a
	// record straight back could) must not deadlock: outcomes are reported
	// after the lock is released.
	b, _ := newTestBatcher(BatcherConfig{})
	var inDone []int
	e := rec{user: "alice", offset: 1}.entry()
	e.rec = &streams.Record{Topic: "t", Offset: 1}
	e.done = func(*streams.Record, error) { inDone = append(inDone, b.Pending(), b.Users()) }
	b.Admit([]*entry{e})
	req := next(t, b, 1000)
	b.Accepted(req)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		b.JobCompleted(req.entries)
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("JobCompleted did not return: done ran under the Batcher's lock")
	}
	if fmt.Sprint(inDone) != "[0 0]" {
		t.Fatalf("done saw pending, users = %v; want the state after the outcome", inDone)
	}
}

func TestBatcherEnvelope(t *testing.T) {
	for _, tc := range []struct {
		siteID  int
		grouped bool
		want    string
	}{
		{0, false, `{"data":[R]}`},
		{1723, false, `{"siteId":1723,"data":[R]}`},
		{0, true, `{"type":"grouped","data":[R]}`},
		{1723, true, `{"siteId":1723,"type":"grouped","data":[R]}`},
	} {
		env := newEnvelope(tc.siteID, tc.grouped)
		if got := string(env.prefix) + "R" + string(env.suffix); got != tc.want {
			t.Errorf("envelope(%d, %v) = %s, want %s", tc.siteID, tc.grouped, got, tc.want)
		}
	}
}

func TestBatcherRemembersEveryRecordHandedBack(t *testing.T) {
	// Two updates of alice are handed back for retry, in two requests. The
	// newer comes back first, is delivered, and so is a newer one still;
	// when the oldest comes back at last, it must not overwrite them.
	b, _ := newTestBatcher(BatcherConfig{})
	deliver := func(r rec) {
		t.Helper()
		call := admit(b, r)
		req := next(t, b, 1000)
		if req == nil {
			t.Fatalf("offset %d was not sent", r.offset)
		}
		b.Accepted(req)
		b.JobCompleted(req.entries)
		if !isDone(call) || call.errs[0] != nil {
			t.Fatalf("offset %d: done %v, err %v", r.offset, isDone(call), call.errs[0])
		}
	}
	fail := func(r rec) {
		t.Helper()
		call := admit(b, r)
		b.Fail(next(t, b, 1000), errors.New("HTTP 503"))
		if !isDone(call) || call.errs[0] == nil {
			t.Fatalf("offset %d was not handed back", r.offset)
		}
	}
	fail(rec{user: "alice", offset: 1})
	fail(rec{user: "alice", offset: 2})
	deliver(rec{user: "alice", offset: 2}) // the runtime's retry of offset 2
	deliver(rec{user: "alice", offset: 3})
	oldest := admit(b, rec{user: "alice", offset: 1})
	if !isDone(oldest) || oldest.errs[0] != nil {
		t.Fatal("the oldest record, back from its retry, was not resolved as replaced")
	}
	if req := next(t, b, 1000); req != nil {
		users, values := sent(t, req)
		t.Fatalf("sent %v %v after a newer update was delivered", users, values)
	}
}
