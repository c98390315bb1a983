package contacthub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
	chsandbox "github.com/contactlab/connector/connector/sandbox/contacthub"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
	"github.com/contactlab/connector/streams/streamstest"
)

// sinkHarness is a CustomersSink started against the sandbox over TCP, with
// its background work run as the runtime's Background would.
type sinkHarness struct {
	t    *testing.T
	sb   *sandbox.Sandbox
	sink *CustomersSink
	out  *outcomes
}

func newSinkHarness(t *testing.T, opts CustomersOptions) *sinkHarness {
	t.Helper()
	sb := sandboxtest.Start(t, nil)
	c := NewClient(testClientOptions(sb), nil)
	sink, err := NewCustomersSink(c, opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sink.start(func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := sink.Close(); err != nil {
			t.Error(err)
		}
	})
	return &sinkHarness{t: t, sb: sb, sink: sink, out: &outcomes{last: map[recordPos]error{}, count: map[recordPos]int{}}}
}

// outcomes collects what done reports, per record.
type outcomes struct {
	mu    sync.Mutex
	last  map[recordPos]error
	count map[recordPos]int
	total int
}

func (o *outcomes) done(r *streams.Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[posOf(r)] = err
	o.count[posOf(r)]++
	o.total++
}

func (o *outcomes) n() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total
}

func (o *outcomes) of(r *streams.Record) (error, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[posOf(r)], o.count[posOf(r)]
}

// write hands records over one Write each, as single-record batches.
func (h *sinkHarness) write(recs ...*streams.Record) {
	for _, r := range recs {
		h.sink.Write(context.Background(), []*streams.Record{r}, h.out.done)
	}
}

// await waits until n outcomes in all were reported.
func (h *sinkHarness) await(n int) {
	h.t.Helper()
	streamstest.WaitFor(h.t, 20*time.Second, strconv.Itoa(n)+" outcomes", func() (bool, string) {
		got := h.out.n()
		return got >= n, fmt.Sprintf("%d outcomes, sink %+v", got, h.sink.Stats())
	})
}

// delivered fails the test unless every record's last outcome is nil.
func (h *sinkHarness) delivered(recs ...*streams.Record) {
	h.t.Helper()
	for _, r := range recs {
		if err, n := h.out.of(r); err != nil || n == 0 {
			h.t.Fatalf("record %d: %d outcomes, last %v", r.Offset, n, err)
		}
	}
}

func customerRecord(partition int, offset int64, key, value string) *streams.Record {
	return &streams.Record{Topic: "customers", Partition: partition, Offset: offset, Key: []byte(key), Value: []byte(value), Attempts: 1}
}

func createValue(ext, marker string) string {
	return `{"operation": "create", "customer": {"nodeId": "` + sandbox.NodeID + `", "externalId": "` + ext + `", "extra": "` + marker + `"}}`
}

func patchValue(id, marker string) string {
	return `{"operation": "patch", "customerId": "` + id + `", "customer": {"extra": "` + marker + `", "base": {"lastName": "Rossi"}}}`
}

func sessionValue(id, value string) string {
	return `{"operation": "session", "customerId": "` + id + `", "session": {"value": "` + value + `"}}`
}

func (h *sinkHarness) customerID(ext string) string {
	h.t.Helper()
	id, ok := h.sb.Contacthub.FindCustomer(sandbox.NodeID, ext)
	if !ok {
		h.t.Fatalf("the sandbox has no customer %s", ext)
	}
	return id
}

func TestCustomersSinkUpsertPatchSession(t *testing.T) {
	h := newSinkHarness(t, CustomersOptions{Workers: 4})
	create := customerRecord(0, 0, "C-1", createValue("C-1", "m-0"))
	merge := customerRecord(0, 1, "C-1", createValue("c-1", "m-1")) // the unique property matches in any case
	h.write(create, merge)
	h.await(2)
	h.delivered(create, merge)
	id := h.customerID("C-1")

	patch := customerRecord(0, 2, "C-1", patchValue(id, "m-2"))
	session := customerRecord(0, 3, "C-1", sessionValue(id, "s-3"))
	h.write(patch, session)
	h.await(4)
	h.delivered(patch, session)

	st := h.sb.Contacthub.CustomersStats()
	if st.Created != 1 || st.Merged != 1 || st.Patched != 1 || st.Sessions != 1 || st.Overlaps != 0 {
		t.Fatalf("sandbox %+v", st)
	}
	var markers []string
	for _, c := range h.sb.Contacthub.CustomerCalls(id) {
		markers = append(markers, c.Op+":"+c.Marker)
	}
	if got := strings.Join(markers, " "); got != "create:m-0 merge:m-1 patch:m-2 session:s-3" {
		t.Fatalf("the sandbox saw %s", got)
	}
	if s := h.sink.Stats(); s.Calls != 4 || s.Waiting != 0 || s.Customers != 0 {
		t.Fatalf("sink %+v", s)
	}
}

// Write queues and returns; the outcome comes when the call ends.
func TestCustomersSinkOutcomesAfterWrite(t *testing.T) {
	h := newSinkHarness(t, CustomersOptions{ReorderWindow: -1})
	h.sb.Contacthub.Faults().Set(fault.Settings{Latency: fault.Duration(300 * time.Millisecond)})
	r := customerRecord(0, 0, "C-1", createValue("C-1", "m-0"))
	start := time.Now()
	h.write(r)
	took := time.Since(start)
	if n := h.out.n(); n != 0 {
		t.Fatalf("%d outcomes when Write returned", n)
	}
	if took > 100*time.Millisecond {
		t.Fatalf("Write took %s: it waited for the call", took)
	}
	h.await(1)
	h.delivered(r)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("outcome after %s, before the call could end", took)
	}
}

// feed hands records to Write the way the runtime does: in offset order to
// several workers, each of which calls Write on its own, so records meet
// the sink out of order.
func feed(h *sinkHarness, workers int, recs []*streams.Record) {
	ch := make(chan *streams.Record)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range ch {
				h.write(r)
			}
		}()
	}
	for _, r := range recs {
		ch <- r
	}
	close(ch)
	wg.Wait()
}

// markerOffset reads the offset a test wrote into a call's marker.
func markerOffset(t *testing.T, c chsandbox.CustomerCall) int64 {
	t.Helper()
	_, num, ok := strings.Cut(c.Marker, "-")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil {
		t.Fatalf("call %+v carries no offset", c)
	}
	return n
}

// Many customers, records of each spread over two partitions' worth of
// concurrent Writes: the sandbox sees each customer's calls one at a time,
// in offset order.
func TestCustomersSinkOrderPerCustomerUnderConcurrency(t *testing.T) {
	const customers, perCustomer, partitions = 20, 15, 2
	h := newSinkHarness(t, CustomersOptions{Workers: 8, ReorderWindow: time.Second})
	// Calls take a while inside the sandbox, so two calls of one customer
	// at once would be seen.
	h.sb.Contacthub.SetCustomersLatency(2 * time.Millisecond)
	ext := func(c int) string { return "C-" + strconv.Itoa(c) }
	part := func(c int) int { return c % partitions }

	// The customers exist first, so that patches and sessions can name them.
	next := make([]int64, partitions)
	var creates []*streams.Record
	for c := range customers {
		p := part(c)
		creates = append(creates, customerRecord(p, next[p], ext(c), createValue(ext(c), "m-"+strconv.FormatInt(next[p], 10))))
		next[p]++
	}
	feed(h, 8, creates)
	h.await(len(creates))
	h.delivered(creates...)
	ids := make([]string, customers)
	for c := range customers {
		ids[c] = h.customerID(ext(c))
	}

	rnd := rand.New(rand.NewPCG(1, 2))
	var recs []*streams.Record
	// Records of a customer come in runs, next to each other in their
	// partition, as a burst of changes does: those are the ones that
	// concurrent Writes swap.
	var c, run int
	for range customers * perCustomer {
		if run == 0 {
			c, run = rnd.IntN(customers), 1+rnd.IntN(4)
		}
		run--
		p := part(c)
		off := next[p]
		next[p]++
		marker := strconv.FormatInt(off, 10)
		var v string
		switch rnd.IntN(3) {
		case 0:
			v = createValue(ext(c), "m-"+marker)
		case 1:
			v = patchValue(ids[c], "m-"+marker)
		default:
			// Session values are unique in the node: the partition keeps
			// them apart.
			v = sessionValue(ids[c], "s"+strconv.Itoa(p)+"-"+marker)
		}
		recs = append(recs, customerRecord(p, off, ext(c), v))
	}
	feed(h, 8, recs)
	h.await(len(creates) + len(recs))
	h.delivered(recs...)

	st := h.sb.Contacthub.CustomersStats()
	if st.Overlaps != 0 {
		t.Fatalf("the sandbox saw %d calls overlap on one customer", st.Overlaps)
	}
	for c, id := range ids {
		calls := h.sb.Contacthub.CustomerCalls(id)
		last := int64(-1)
		for _, call := range calls {
			off := markerOffset(t, call)
			if off <= last {
				t.Fatalf("customer %s: offset %d after %d; calls %+v", ext(c), off, last, calls)
			}
			last = off
		}
	}
	t.Logf("sink %+v", h.sink.Stats())
}

// Drain sends everything queued, at once, without waiting out windows: a
// graceful stop finishes with every outcome.
func TestCustomersSinkDrainSendsQueued(t *testing.T) {
	h := newSinkHarness(t, CustomersOptions{Workers: 4, ReorderWindow: 10 * time.Second})
	h.sb.Contacthub.SetCustomersLatency(5 * time.Millisecond)
	var recs []*streams.Record
	for i := range 40 {
		recs = append(recs, customerRecord(0, int64(i), "C-1", createValue("C-1", "m-"+strconv.Itoa(i))))
	}
	// Partition 1 misses offset 0: 1 would wait the window for it.
	recs = append(recs, customerRecord(1, 1, "C-2", createValue("C-2", "m-1")))
	h.write(recs...)
	h.sink.Drain()
	h.await(len(recs))
	h.delivered(recs...)
	if st := h.sb.Contacthub.CustomersStats(); st.Created != 2 || st.Merged != 39 || st.Overlaps != 0 {
		t.Fatalf("sandbox %+v", st)
	}
}

// Records that are not I-JSON (RFC 7493) are rejected as invalid, with the
// path of the offending value, before any call: the customer is sent byte
// for byte, so Contacthub would read what this connector did not check.
func TestCustomersSinkRejectsNonIJSON(t *testing.T) {
	h := newSinkHarness(t, CustomersOptions{ReorderWindow: -1})
	create := func(ext, members string) string {
		return `{"operation": "create", "customer": {"nodeId": "` + sandbox.NodeID + `", "externalId": "` + ext + `", ` + members + `}}`
	}
	cases := []struct {
		rec  *streams.Record
		want schemas.Violation
	}{
		{customerRecord(0, 0, "C-1", create("C-1", `"extended": {"score": 1e999}`)),
			schemas.Violation{Path: "$.customer.extended.score", Rule: "number must be within the range of an IEEE 754 double"}},
		{customerRecord(0, 1, "C-2", create("C-2", `"extended": {"prefs": {"colors": {"fav": "red", "f\u0061v": "blue"}}}`)),
			schemas.Violation{Path: "$.customer.extended.prefs.colors.fav", Rule: "duplicate member name"}},
		{customerRecord(0, 2, "C-3", create("C-3", `"base": {"firstName": "`+"Zo\xeb"+`"}`)),
			schemas.Violation{Path: "$.customer.base.firstName", Rule: "string must be valid UTF-8"}},
		{customerRecord(0, 3, "C-4", sessionValue(testCustomerID, `s-\ud800`)),
			schemas.Violation{Path: "$.session.value", Rule: "string must not hold an unpaired surrogate escape"}},
	}
	for _, tc := range cases {
		h.write(tc.rec)
	}
	if h.out.n() != len(cases) {
		t.Fatal("invalid records are answered in Write")
	}
	for _, tc := range cases {
		err, _ := h.out.of(tc.rec)
		var ve *schemas.ValidationError
		if delivery.Classify(err) != delivery.DeadLetter || delivery.ReasonOf(err) != "invalid" || !errors.As(err, &ve) {
			t.Fatalf("record %d: %v (reason %s), want invalid with a *schemas.ValidationError", tc.rec.Offset, err, delivery.ReasonOf(err))
		}
		if len(ve.Violations) != 1 || ve.Violations[0] != tc.want {
			t.Errorf("record %d: violations %q, want %q", tc.rec.Offset, ve.Violations, tc.want)
		}
	}
	if s := h.sink.Stats(); s.Calls != 0 {
		t.Fatalf("%d calls for invalid records", s.Calls)
	}
}

// Records that break the schema are rejected as invalid before any call;
// the API's refusals are rejected with its status.
func TestCustomersSinkRejects(t *testing.T) {
	h := newSinkHarness(t, CustomersOptions{ReorderWindow: -1})
	invalid := customerRecord(0, 0, "C-1", `{"operation": "create", "customer": {"nodeId": "`+sandbox.NodeID+`", "externalId": "C-1", "base": {"address": {"street": "`+strings.Repeat("s", 501)+`"}}}}`)
	noNode := customerRecord(0, 1, "C-2", `{"operation": "create", "customer": {"externalId": "C-2"}}`)
	h.write(invalid, noNode)
	if h.out.n() != 2 {
		t.Fatal("invalid records are answered in Write")
	}
	for r, path := range map[*streams.Record]string{invalid: "$.customer.base.address.street", noNode: "$.customer.nodeId"} {
		err, _ := h.out.of(r)
		if delivery.Classify(err) != delivery.DeadLetter || delivery.ReasonOf(err) != "invalid" || !strings.Contains(err.Error(), path) {
			t.Fatalf("record %d: %v (reason %s), want invalid at %s", r.Offset, err, delivery.ReasonOf(err), path)
		}
	}
	if s := h.sink.Stats(); s.Calls != 0 {
		t.Fatalf("%d calls for invalid records", s.Calls)
	}

	a := customerRecord(0, 2, "A", createValue("A", "m-2"))
	b := customerRecord(0, 3, "B", createValue("B", "m-3"))
	h.write(a, b)
	h.await(4)
	h.delivered(a, b)
	unknown := customerRecord(0, 4, "X", patchValue("87d8e330-2878-4742-a86f-dbbb3bf522ac", "m-4"))
	taken := customerRecord(0, 5, "B", sessionValue(h.customerID("B"), "s-shared"))
	first := customerRecord(0, 6, "A", sessionValue(h.customerID("A"), "s-shared"))
	h.write(first)
	h.await(5)
	h.write(unknown, taken)
	h.await(7)
	h.delivered(first)
	for r, status := range map[*streams.Record]int{unknown: 404, taken: 409} {
		err, _ := h.out.of(r)
		if delivery.Classify(err) != delivery.DeadLetter || delivery.StatusOf(err) != status || delivery.ReasonOf(err) != "rejected" {
			t.Fatalf("record %d: %v, want rejected with %d", r.Offset, err, status)
		}
	}
	if st := h.sb.Contacthub.CustomersStats(); st.NotFound != 1 || st.Conflicts != 1 || st.Rejected != 0 {
		t.Fatalf("sandbox %+v: invalid records must not reach it", st)
	}
}

// A 5xx is the record's outcome, for the runtime to retry; the customer's
// later records wait until the runtime hands the failed one back.
func TestCustomersSinkRetryKeepsOrder(t *testing.T) {
	h := newSinkHarness(t, CustomersOptions{ReorderWindow: -1, RetryHold: time.Minute})
	h.sb.Contacthub.Faults().Set(fault.Settings{ServerErrorShare: 1})
	first := customerRecord(0, 0, "C-1", createValue("C-1", "m-0"))
	h.write(first)
	h.await(1)
	err, _ := h.out.of(first)
	if delivery.Classify(err) != delivery.Retry || delivery.StatusOf(err) != 503 {
		t.Fatalf("outcome %v, want a retryable 503", err)
	}
	h.sb.Contacthub.Faults().Set(fault.Settings{})
	second := customerRecord(0, 1, "C-1", createValue("C-1", "m-1"))
	other := customerRecord(0, 2, "C-2", createValue("C-2", "m-2"))
	h.write(second, other)
	h.await(2)
	h.delivered(other)
	if _, n := h.out.of(second); n != 0 {
		t.Fatal("a later record of the customer overtook the one to be retried")
	}
	// The runtime's retry: the same record, a second attempt.
	first.Attempts++
	h.write(first)
	h.await(4)
	h.delivered(first, second)
	id := h.customerID("C-1")
	calls := h.sb.Contacthub.CustomerCalls(id)
	if len(calls) != 2 || calls[0].Marker != "m-0" || calls[1].Marker != "m-1" {
		t.Fatalf("calls %+v", calls)
	}

	// A refused credential pauses the pipeline: the record is fine.
	h.sb.Contacthub.Faults().Set(fault.Settings{UnauthorizedFor: fault.Duration(time.Minute)})
	third := customerRecord(0, 3, "C-3", createValue("C-3", "m-3"))
	h.write(third)
	h.await(5)
	if err, _ := h.out.of(third); !errors.Is(err, streams.ErrUnauthorized) || delivery.Classify(err) != delivery.Pause {
		t.Fatalf("outcome %v, want unauthorized", err)
	}
}

func TestCustomersOptions(t *testing.T) {
	c := NewClient(Options{BaseURL: "http://127.0.0.1:1", WorkspaceID: sandbox.WorkspaceID, Token: "t", Headroom: 1}, nil)
	for _, tc := range []struct {
		name string
		opts CustomersOptions
		want string // "" for valid
	}{
		{"defaults", CustomersOptions{}, ""},
		{"arrival order", CustomersOptions{ReorderWindow: -1}, ""},
		// A window that long stalls a partition at every gap.
		{"window too long", CustomersOptions{ReorderWindow: time.Minute}, "reorder_window"},
		{"negative workers", CustomersOptions{Workers: -1}, "workers"},
		// One worker per customer in flight is plenty; thousands is a typo.
		{"too many workers", CustomersOptions{Workers: 5000}, "workers"},
		{"negative hold", CustomersOptions{RetryHold: -time.Second}, "retry_hold"},
		// Patch and session paths must say where the customer goes.
		{"patch path without id", CustomersOptions{Paths: CustomerPaths{Customer: "/workspaces/{workspaceId}/customers"}}, "{customerId}"},
		{"relative path", CustomersOptions{Paths: CustomerPaths{Customers: "customers"}}, "must start with /"},
		{"create path with id", CustomersOptions{Paths: CustomerPaths{Customers: "/c/{customerId}"}}, "cannot contain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewCustomersSink(c, tc.opts, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			case tc.want == "" && s.client.Paths() != DefaultCustomerPaths():
				t.Fatalf("paths %+v", s.client.Paths())
			}
		})
	}
}
