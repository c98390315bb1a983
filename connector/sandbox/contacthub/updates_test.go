package contacthub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
)

func (h *harness) page(query string) (schemas.StreamPage, answer) {
	h.t.Helper()
	a := h.do(http.MethodGet, ws("/updates?"+query), nil, nil)
	var p schemas.StreamPage
	if a.status == http.StatusOK {
		if err := json.Unmarshal(a.body, &p); err != nil {
			h.t.Fatalf("page %q: %v in %.200s", query, err, a.body)
		}
		if p.Updates == nil {
			h.t.Fatalf("page %q: updates is null, want a list", query)
		}
	}
	return p, a
}

func offsetsOf(p schemas.StreamPage) []int64 {
	out := make([]int64, len(p.Updates))
	for i, u := range p.Updates {
		out[i] = u.Offset
	}
	return out
}

func seq(from, to int64) []int64 {
	out := []int64{}
	for o := from; o <= to; o++ {
		out = append(out, o)
	}
	return out
}

// clockedHarness has a log of 100 updates: offsets 1..40 modified at t1,
// 41..100 at t2 = t1 + 1 minute.
func clockedHarness(t *testing.T) (h *harness, t1, t2 int64) {
	t.Helper()
	h = newHarness(t, testConfig())
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	h.srv.now = func() time.Time { return at }
	h.srv.AppendUpdates(40)
	at = at.Add(time.Minute)
	h.srv.AppendUpdates(60)
	return h, at.Add(-time.Minute).UnixMilli(), at.UnixMilli()
}

func TestUpdateStream(t *testing.T) {
	h, t1, t2 := clockedHarness(t)
	full, _ := h.page("size=4000")
	if got := offsetsOf(full); !slices.Equal(got, seq(1, 100)) {
		t.Fatalf("full log offsets %v", got)
	}
	var events, customers []int64
	for _, u := range full.Updates {
		switch u.Entity.Type {
		case schemas.EntityEvent:
			events = append(events, u.Offset)
		case schemas.EntityCustomer:
			customers = append(customers, u.Offset)
		default:
			t.Fatalf("update %d: entity type %q", u.Offset, u.Entity.Type)
		}
	}
	if len(events) < 3 || len(customers) < 3 {
		t.Fatalf("the generator made %d events and %d customer changes; the test needs both", len(events), len(customers))
	}
	other := uuid.NewString()
	tests := []struct {
		name  string
		query string
		want  []int64
		next  int64
	}{
		{"defaults: from the start, 50", "", seq(1, 50), 50},
		// offset is the greatest offset the client knows: not returned again.
		{"offset is exclusive", "offset=10&size=5", seq(11, 15), 15},
		{"offset 0 is before the first", "offset=0&size=4000", seq(1, 100), 100},
		{"page ends at the log's end", "offset=95&size=50", seq(96, 100), 100},
		{"caught up: empty, next is the offset given", "offset=100", nil, 100},
		{"beyond the end", "offset=250", nil, 250},
		{"size 0", "size=0", nil, 0},
		{"size 0 with offset", "offset=7&size=0", nil, 7},
		{"timestamp: from the first modified at or after it", "timestamp=" + strconv.FormatInt(t2, 10) + "&size=3", seq(41, 43), 43},
		{"timestamp between the two", "timestamp=" + strconv.FormatInt(t1+1, 10) + "&size=1", seq(41, 41), 41},
		{"timestamp before everything", "timestamp=0&size=2", seq(1, 2), 2},
		// Resuming from the answer must not miss what comes next.
		{"timestamp after everything", "timestamp=" + strconv.FormatInt(t2+1, 10), nil, 100},
		{"timestamp is ignored with offset", "timestamp=" + strconv.FormatInt(t2, 10) + "&offset=5&size=2", seq(6, 7), 7},
		{"entity EVENT", "entity=EVENT&size=4000", events, events[len(events)-1]},
		{"entity CUSTOMER after an offset", "entity=CUSTOMER&size=2&offset=" + strconv.FormatInt(customers[0], 10), customers[1:3], customers[2]},
		{"entity filter, nothing left", "entity=EVENT&offset=" + strconv.FormatInt(events[len(events)-1], 10), nil, events[len(events)-1]},
		{"our node", "nodeId=" + testNode + "&size=4000", seq(1, 100), 100},
		{"our node and EVENT", "nodeId=" + testNode + "&entity=EVENT&size=4000", events, events[len(events)-1]},
		{"another node", "nodeId=" + other + "&offset=3", nil, 3},
		{"another node from the start", "nodeId=" + other, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, a := h.page(tt.query)
			if a.status != http.StatusOK {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if got := offsetsOf(p); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("offsets %v, want %v", got, tt.want)
			}
			if p.NextOffset != tt.next {
				t.Fatalf("nextOffset %d, want %d", p.NextOffset, tt.next)
			}
			if a.header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", a.header.Get("Content-Type"))
			}
		})
	}
}

func TestUpdateStreamRejectsBadQueries(t *testing.T) {
	tests := []struct{ query, path string }{
		{"size=4001", "size"},
		{"size=-1", "size"},
		{"size=ten", "size"},
		{"size=", "size"}, // present but empty is a client bug, not a default
		{"size=1.5", "size"},
		{"offset=-1", "offset"},
		{"offset=x", "offset"},
		{"timestamp=yesterday", "timestamp"},
		{"timestamp=-5", "timestamp"},
		{"entity=ORDER", "entity"},
		{"entity=customer", "entity"},
		{"nodeId=node-1", "nodeId"},
	}
	h := newHarness(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, a := h.page(tt.query)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", a.status, a.body)
			}
			e := a.apiError(t)
			if len(e.Errors) != 1 || e.Errors[0].Path != tt.path {
				t.Fatalf("errors %+v, want one at %s", e.Errors, tt.path)
			}
		})
	}
}

func TestLastOffset(t *testing.T) {
	h := newHarness(t, testConfig())
	lastOffset := func(query string) (int64, int) {
		a := h.do(http.MethodGet, ws("/updates/last-offset?"+query), nil, nil)
		var body struct{ LastOffset *int64 }
		if a.status == http.StatusOK && (json.Unmarshal(a.body, &body) != nil || body.LastOffset == nil) {
			t.Fatalf("last-offset %q: %s", query, a.body)
		}
		if body.LastOffset == nil {
			return 0, a.status
		}
		return *body.LastOffset, a.status
	}
	if got, _ := lastOffset(""); got != 0 {
		t.Fatalf("empty log: lastOffset %d, want 0", got)
	}
	h.srv.AppendUpdates(300)
	full, _ := h.page("size=4000")
	last := map[string]int64{}
	for _, u := range full.Updates {
		last[u.Entity.Type] = u.Offset
	}
	tests := []struct {
		query  string
		want   int64
		status int
	}{
		{"", 300, http.StatusOK},
		{"entity=EVENT", last[schemas.EntityEvent], http.StatusOK},
		{"entity=CUSTOMER", last[schemas.EntityCustomer], http.StatusOK},
		{"nodeId=" + testNode, 300, http.StatusOK},
		{"nodeId=" + testNode + "&entity=EVENT", last[schemas.EntityEvent], http.StatusOK},
		{"nodeId=" + uuid.NewString(), 0, http.StatusOK},
		{"entity=ORDER", 0, http.StatusBadRequest},
		{"nodeId=x", 0, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, status := lastOffset(tt.query)
			if status != tt.status || got != tt.want {
				t.Fatalf("lastOffset %d status %d, want %d %d", got, status, tt.want, tt.status)
			}
		})
	}
	if h.srv.LastOffset() != 300 || h.srv.Stats().LastOffset != 300 {
		t.Fatalf("LastOffset() %d, Stats.LastOffset %d", h.srv.LastOffset(), h.srv.Stats().LastOffset)
	}
}

// TestAppendUpdatesContiguous appends from several goroutines while a reader
// pages: offsets must come out 1..N with no gap or repeat, as a consumer
// committing offsets relies on.
func TestAppendUpdatesContiguous(t *testing.T) {
	h := newHarness(t, testConfig())
	batches := []int{1, 7, appendBatch - 1, appendBatch, appendBatch + 1, 3000}
	var want int64
	var wg sync.WaitGroup
	for _, n := range batches {
		want += int64(n)
		wg.Go(func() { h.srv.AppendUpdates(n) })
	}
	var got []int64
	for next := int64(0); ; {
		p, a := h.page("size=4000&offset=" + strconv.FormatInt(next, 10))
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		got = append(got, offsetsOf(p)...)
		next = p.NextOffset
		if next == want {
			break
		}
	}
	wg.Wait()
	if !slices.Equal(got, seq(1, want)) {
		t.Fatalf("read %d offsets, not 1..%d in order", len(got), want)
	}
	if h.srv.LastOffset() != want {
		t.Fatalf("LastOffset %d, want %d", h.srv.LastOffset(), want)
	}
	if served := h.srv.Stats().UpdatesServed; served != want {
		t.Fatalf("UpdatesServed %d, want %d", served, want)
	}
}

// TestRetention: the log keeps the newest MaxRetainedUpdates; a client
// behind it resumes from the oldest kept, and filters agree with the log.
func TestRetention(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRetainedUpdates = 10
	h := newHarness(t, cfg)
	h.srv.AppendUpdates(25)
	full, _ := h.page("size=4000")
	if got := offsetsOf(full); !slices.Equal(got, seq(16, 25)) {
		t.Fatalf("retained %v, want 16..25", got)
	}
	var events []int64
	for _, u := range full.Updates {
		if u.Entity.Type == schemas.EntityEvent {
			events = append(events, u.Offset)
		}
	}
	tests := []struct {
		query string
		want  []int64
	}{
		{"offset=3&size=2", seq(16, 17)},
		{"offset=15&size=2", seq(16, 17)},
		{"offset=20", seq(21, 25)},
		{"timestamp=0&size=1", seq(16, 16)},
		{"entity=EVENT&offset=1&size=4000", events},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p, _ := h.page(tt.query)
			if got := offsetsOf(p); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("offsets %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUpdateLogRing drives the ring through growth and many wraps and checks
// it against the obvious model: the last max offsets.
func TestUpdateLogRing(t *testing.T) {
	tests := []struct{ max, appends, batch int }{
		{1, 5, 1},
		{3, 10, 2},
		{1024, 1023, 100},
		{1025, 5000, 333}, // grows past 1024 then wraps several times
		{3000, 10000, 4000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max%d_n%d", tt.max, tt.appends), func(t *testing.T) {
			l := newUpdateLog(tt.max, true)
			for done := 0; done < tt.appends; {
				n := min(tt.batch, tt.appends-done)
				cs := make([]change, n)
				for i := range cs {
					k := kindCustomer
					if (done+i)%3 == 0 {
						k = kindEvent
					}
					cs[i] = change{operation: schemas.OperationCreate, kind: k, node: testNode, millis: int64(done + i), data: []byte(`{}`)}
				}
				l.append(cs)
				done += n
			}
			first := int64(max(1, tt.appends-tt.max+1))
			items, next := l.page(pageQuery{size: maxPageSize}, nil)
			wantN := min(int64(maxPageSize), int64(tt.appends)-first+1)
			if int64(len(items)) != wantN || next != first+wantN-1 {
				t.Fatalf("page of %d next %d, want %d next %d", len(items), next, wantN, first+wantN-1)
			}
			for i, it := range items {
				var u schemas.StreamUpdate
				if err := json.Unmarshal(it, &u); err != nil || u.Offset != first+int64(i) {
					t.Fatalf("item %d: %s (%v), want offset %d", i, it, err, first+int64(i))
				}
			}
			// The event index must skip what the ring dropped.
			evs, _ := l.page(pageQuery{size: 1, key: filterKey{kind: kindEvent}}, nil)
			var u schemas.StreamUpdate
			if len(evs) == 1 {
				if err := json.Unmarshal(evs[0], &u); err != nil || u.Offset < first || (u.Offset-1)%3 != 0 {
					t.Fatalf("first event %s, want an event offset >= %d", evs[0], first)
				}
			}
			if got := l.offsetBefore(int64(tt.appends - 1)); got != int64(tt.appends-1) {
				t.Fatalf("offsetBefore(last millis) = %d, want %d", got, tt.appends-1)
			}
		})
	}
}

// TestGeneratedDataIsConsistent: what the stream says must make sense as a
// history, since the connector's stream source is tested against it: events
// of live customers, deletes of existing ones, valid event types.
func TestGeneratedDataIsConsistent(t *testing.T) {
	cfg := testConfig()
	cfg.Customers = 50
	h := newHarness(t, cfg)
	h.srv.AppendUpdates(5000)
	live := map[string]bool{}
	liveEvents := map[string]bool{}
	for next := int64(0); next < h.srv.LastOffset(); {
		p, _ := h.page("size=4000&offset=" + strconv.FormatInt(next, 10))
		next = p.NextOffset
		for _, u := range p.Updates {
			switch u.Entity.Type {
			case schemas.EntityCustomer:
				var c customerData
				if err := json.Unmarshal(u.Entity.Data, &c); err != nil || uuid.Validate(c.ID) != nil || c.NodeID != testNode {
					t.Fatalf("update %d: customer %s (%v)", u.Offset, u.Entity.Data, err)
				}
				switch u.Operation {
				case schemas.OperationCreate:
					if live[c.ID] {
						t.Fatalf("update %d: customer %s created twice", u.Offset, c.ID)
					}
					live[c.ID] = true
				case schemas.OperationUpdate, schemas.OperationDelete:
					if !live[c.ID] {
						t.Fatalf("update %d: %s of unknown customer %s", u.Offset, u.Operation, c.ID)
					}
					live[c.ID] = u.Operation == schemas.OperationUpdate
				}
				if u.Operation != schemas.OperationDelete && (c.Base.FirstName == "" || c.Base.Contacts.Email == "" || c.UpdatedAt == "" || c.ExternalID == "") {
					t.Fatalf("update %d: thin customer %s", u.Offset, u.Entity.Data)
				}
			case schemas.EntityEvent:
				var e eventData
				if err := json.Unmarshal(u.Entity.Data, &e); err != nil || !live[e.CustomerID] {
					t.Fatalf("update %d: event %s of a customer not alive (%v)", u.Offset, u.Entity.Data, err)
				}
				switch u.Operation {
				case schemas.OperationCreate:
					liveEvents[e.ID] = true
					// Generated events are ones Create event would accept.
					body, _ := json.Marshal(map[string]any{"customerId": e.CustomerID, "type": e.Type, "context": e.Context, "properties": e.Properties, "date": e.Date})
					if _, err := schemas.DecodeEvent(body); err != nil {
						t.Fatalf("update %d: generated event invalid: %v", u.Offset, err)
					}
				case schemas.OperationUpdate, schemas.OperationDelete:
					if !liveEvents[e.ID] {
						t.Fatalf("update %d: %s of unknown event %s", u.Offset, u.Operation, e.ID)
					}
					liveEvents[e.ID] = u.Operation == schemas.OperationUpdate
				}
			}
		}
	}
	if len(liveEvents) == 0 {
		t.Fatal("no events generated")
	}
}

func TestGeneratorIsReproducible(t *testing.T) {
	read := func() string {
		h := newHarness(t, testConfig()) // Seed 42
		h.srv.now = func() time.Time { return time.Unix(1700000000, 0) }
		h.srv.AppendUpdates(200)
		_, a := h.page("size=200")
		return string(a.body)
	}
	if a, b := read(), read(); a != b {
		t.Fatal("the same seed gave different updates")
	}
}

func TestRun(t *testing.T) {
	t.Run("rate 0 returns at once", func(t *testing.T) {
		h := newHarness(t, testConfig())
		h.srv.Run(context.Background())
	})
	t.Run("generates until cancelled", func(t *testing.T) {
		cfg := testConfig()
		cfg.ChangesPerSecond = 500
		h := newHarness(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); h.srv.Run(ctx) }()
		testkit.WaitFor(t, 5*time.Second, "50 generated changes", testkit.Until(func() bool { return h.srv.LastOffset() >= 50 }))
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		last := h.srv.LastOffset()
		p, _ := h.page("size=4000")
		if int64(len(p.Updates)) != last {
			t.Fatalf("log holds %d updates, LastOffset %d", len(p.Updates), last)
		}
	})
}

// An event a client creates shows on the update stream as a CREATE of an
// EVENT, with the id the create answered and the customer it names.
func TestCreatedEventsAreStreamed(t *testing.T) {
	h := newHarness(t, testConfig())
	customer := uuid.NewString()
	a := h.postEvent(eventBody(t, customer, 0))
	if a.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	var created struct{ ID string }
	if err := json.Unmarshal(a.body, &created); err != nil {
		t.Fatal(err)
	}
	p, _ := h.page("entity=EVENT&size=10")
	if len(p.Updates) != 1 {
		t.Fatalf("%d event updates, want 1", len(p.Updates))
	}
	u := p.Updates[0]
	var data struct{ ID, CustomerID, Type string }
	if err := json.Unmarshal(u.Entity.Data, &data); err != nil {
		t.Fatal(err)
	}
	if u.Operation != schemas.OperationCreate || data.ID != created.ID || data.CustomerID != customer || data.Type != "viewedPage" {
		t.Fatalf("streamed %s %+v, want CREATE of %s for %s", u.Operation, data, created.ID, customer)
	}
}
