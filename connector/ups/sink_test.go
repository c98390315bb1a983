package ups

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	sbups "github.com/contactlab/connector/connector/sandbox/ups"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

func TestSinkDeliversInOrderThroughFailedJobs(t *testing.T) {
	// Two jobs in five FAIL; concurrent Write calls of one partition carry
	// several updates of each user. Every user must end with the value of
	// their last update. Most records of a FAILED job are replaced by newer
	// updates before they could be sent again, so the jobs are small and
	// fail often enough for some near the end, whose records have no newer
	// update, to be sent again in every run; 30 attempts make a record
	// dead-lettered for failing them all unthinkable (0.4^30).
	sb, url := startStandIn(t, func(c *sbups.Config) { c.JobFailShare = 0.4 })
	api := testAPIConfig(url)
	api.MaxRecords = 50
	h := startSink(t, api, func(c *SinkConfig) { c.MaxJobAttempts = 30 })
	const users, perWrite, writers, rounds = 1000, 250, 8, 4
	last := map[string]string{}
	batches := make([][][]*streams.Record, writers)
	off := int64(0)
	for range rounds {
		for w := range writers {
			var b []*streams.Record
			for range perWrite {
				u := fmt.Sprintf("u%04d", (off*7)%users)
				v := attrValue(int(off))
				b = append(b, record(u, off, v))
				last[u] = v
				off++
			}
			batches[w] = append(batches[w], b)
		}
	}
	var wg sync.WaitGroup
	for _, mine := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range mine {
				for i, err := range write(t, h.sink, b) {
					if err != nil {
						t.Errorf("record %d: %v", b[i].Offset, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for u, v := range last {
		got, _, ok := sb.Stored(schemas.UserAttributes, u)
		if !ok || !testkit.JSONEqual(got, []byte(v)) {
			t.Fatalf("user %s holds %s, want their last update %s", u, got, v)
		}
	}
	st := sb.Stats()
	res := h.results.results()
	if int64(len(res)) != st.Jobs || st.JobsFailed == 0 {
		t.Fatalf("%d results for %d jobs (%d failed)", len(res), st.Jobs, st.JobsFailed)
	}
	failed := 0
	for _, r := range res {
		if r.Status == "FAILED" {
			failed++
			if len(r.Errors) == 0 || r.Attempt < 1 {
				t.Fatalf("a FAILED result without its messages or attempt: %+v", r)
			}
		}
	}
	if int64(failed) != st.JobsFailed {
		t.Fatalf("%d FAILED results, sandbox failed %d", failed, st.JobsFailed)
	}
	bs := h.sink.Batcher().Stats()
	if bs.Coalesced == 0 || bs.Resent == 0 {
		t.Fatalf("nothing coalesced or resent: %+v", bs)
	}
	t.Logf("batcher %+v", bs)
	if h.sink.Batcher().Users() != 0 || h.client.OpenJobs() != 0 {
		t.Fatalf("state left: %d users, %d open jobs", h.sink.Batcher().Users(), h.client.OpenJobs())
	}
}

func TestSinkRejectsBeforeAnyCall(t *testing.T) {
	sb, url := startStandIn(t, nil)
	api := testAPIConfig(url)
	api.MaxBodyBytes = 2048
	h := startSink(t, api, func(c *SinkConfig) { c.MaxBodyBytes = 2048 })
	huge := make([]string, 0, 400)
	for i := range 400 {
		huge = append(huge, fmt.Sprintf("%08x%08x", i*2654435761, i*40503))
	}
	hugeValue, _ := json.Marshal(map[string][]string{"ids": huge})
	batch := []*streams.Record{
		record("ok", 1, attrValue(1)),
		{Topic: "profiles", Offset: 2, Value: []byte(`{"userId":"","value":{}}`)},
		{Topic: "profiles", Offset: 3, Value: []byte(`{"userId":"x","value":`)},
		record("big", 4, string(hugeValue)),
	}
	errs := write(t, h.sink, batch)
	want := []string{"", "invalid", "invalid", "too_large"}
	for i, w := range want {
		var re *streams.RejectError
		switch {
		case w == "" && errs[i] != nil:
			t.Errorf("record %d: %v", i, errs[i])
		case w != "" && (!errors.As(errs[i], &re) || re.Reason != w):
			t.Errorf("record %d: %v, want a %s rejection", i, errs[i], w)
		}
	}
	if st := sb.Stats(); st.Requests != 1 || st.RecordsAccepted != 1 {
		t.Fatalf("the API saw %d requests with %d records; want only the valid record sent", st.Requests, st.RecordsAccepted)
	}
}

// Records that are not I-JSON (RFC 7493) are rejected as invalid, with the
// path of the offending value, before any call: the value is sent as it
// came, so UPS would read what this connector did not check (issue 11).
func TestSinkRejectsNonIJSONBeforeAnyCall(t *testing.T) {
	sb, url := startStandIn(t, nil)
	h := startSink(t, testAPIConfig(url), nil)
	cases := []struct {
		rec  *streams.Record
		want schemas.Violation
	}{
		{record("a", 2, `{"fav_color":["red"],"fav_\u0063olor":["blue"]}`),
			schemas.Violation{Path: "$.value.fav_color", Rule: "duplicate member name"}},
		{record("b", 3, `{"city":["Mil`+"\xe0"+`no"]}`),
			schemas.Violation{Path: "$.value.city[0]", Rule: "string must be valid UTF-8"}},
		{record("c", 4, `{"city":["\udfff"]}`),
			schemas.Violation{Path: "$.value.city[0]", Rule: "string must not hold an unpaired surrogate escape"}},
		{record("d", 5, `{"c`+"\xff"+`ty":["x"]}`),
			schemas.Violation{Path: "$.value.c\uFFFDty", Rule: "member name must be valid UTF-8"}},
	}
	batch := []*streams.Record{record("ok", 1, `{"city":["Mil\u00e0no \ud83d\ude00"]}`)}
	for _, tc := range cases {
		batch = append(batch, tc.rec)
	}
	errs := write(t, h.sink, batch)
	if errs[0] != nil {
		t.Fatalf("the valid record: %v", errs[0])
	}
	for i, tc := range cases {
		err := errs[i+1]
		var re *streams.RejectError
		var ve *schemas.ValidationError
		if !errors.As(err, &re) || re.Reason != "invalid" || !errors.As(err, &ve) {
			t.Errorf("record %d: %v, want an invalid rejection with a *schemas.ValidationError", tc.rec.Offset, err)
			continue
		}
		if len(ve.Violations) != 1 || ve.Violations[0] != tc.want {
			t.Errorf("record %d: violations %q, want %q", tc.rec.Offset, ve.Violations, tc.want)
		}
	}
	// A number out of range in the attributes breaks their rule too
	// (arrays of strings), and is named as out of range.
	errs = write(t, h.sink, []*streams.Record{record("e", 6, `{"n":[1e999]}`)})
	var ve *schemas.ValidationError
	want := schemas.Violation{Path: "$.value.n[0]", Rule: "number must be within the range of an IEEE 754 double"}
	if !errors.As(errs[0], &ve) || !slices.Contains(ve.Violations, want) {
		t.Errorf("1e999: %v, want a violation %q", errs[0], want)
	}
	if st := sb.Stats(); st.Requests != 1 || st.RecordsAccepted != 1 {
		t.Fatalf("the API saw %d requests with %d records; want only the valid record sent", st.Requests, st.RecordsAccepted)
	}
}

func TestSinkSplitsWhatTheAPIFindsTooLarge(t *testing.T) {
	// The API's limit is below the sink's: 413s, then halves until they fit.
	sb, url := startStandIn(t, func(c *sbups.Config) { c.MaxBodyBytes = 4096 })
	h := startSink(t, testAPIConfig(url), nil)
	var batch []*streams.Record
	for i := range 2000 {
		batch = append(batch, record(fmt.Sprintf("user-%05d", i), int64(i), fmt.Sprintf(`{"n":["%d","%x"]}`, i, i*2654435761)))
	}
	for i, err := range write(t, h.sink, batch) {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	st := sb.Stats()
	if st.TooLarge413 == 0 || st.RecordsAccepted != 2000 {
		t.Fatalf("413s %d, records accepted %d", st.TooLarge413, st.RecordsAccepted)
	}
}

func TestSinkRenewsExpiredTokensWithoutPausing(t *testing.T) {
	sb, url := startStandIn(t, nil)
	h := startSink(t, testAPIConfig(url), nil)
	for round := range 3 {
		if round > 0 {
			sb.ExpireTokens()
		}
		var batch []*streams.Record
		for i := range 100 {
			off := int64(round*100 + i)
			batch = append(batch, record(fmt.Sprintf("u%d", i), off, attrValue(int(off))))
		}
		for i, err := range write(t, h.sink, batch) {
			if err != nil {
				t.Fatalf("round %d record %d: %v", round, i, err)
			}
		}
	}
	// One token per service to start, and one more per service after each
	// expiry: tokens are cached, and each 401 costs one renewal.
	if st := sb.Stats(); st.TokensIssued != 6 || st.Unauthorized401 == 0 {
		t.Fatalf("tokens issued %d (want 6), 401s %d", st.TokensIssued, st.Unauthorized401)
	}
}

func TestSinkSlowsDownOn429(t *testing.T) {
	// The API allows 2000 records/s; the sink believes 20000. The 429s must
	// cut the pace, and everything still arrive.
	sb, url := startStandIn(t, func(c *sbups.Config) { c.UpdatesPerSecond = 2000 })
	api := testAPIConfig(url)
	api.UpdatesPerSecond = 20000
	h := startSink(t, api, nil)
	var batch []*streams.Record
	for i := range 6000 {
		batch = append(batch, record(fmt.Sprintf("u%05d", i), int64(i), attrValue(i)))
	}
	for i, err := range write(t, h.sink, batch) {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	p := h.client.Pacer()
	if st := sb.Stats(); st.Throttled429 == 0 || p.Cuts() == 0 || p.Pace() >= 20000 {
		t.Fatalf("429s %d, cuts %d, pace %.0f", st.Throttled429, p.Cuts(), p.Pace())
	}
}

// rejectingAPI is an enrichment API that refuses, with 400, any payload
// holding a record of a user whose id starts with "bad", listing them as
// the sandbox does; its jobs complete at once.
type rejectingAPI struct {
	requests atomic.Int64
	mu       sync.Mutex
	accepted map[string]bool
}

func (a *rejectingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.Contains(r.URL.Path, "/job/"):
		_, _ = io.WriteString(w, `{"summary":{"job-status":"COMPLETED"},"result":[]}`)
	default:
		a.requests.Add(1)
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		plain, _ := io.ReadAll(zr)
		var p struct {
			Data []schemas.UPSRecord `json:"data"`
		}
		if err := json.Unmarshal(plain, &p); err != nil {
			w.WriteHeader(400)
			return
		}
		var bad []string
		for i, d := range p.Data {
			if strings.HasPrefix(d.UserID, "bad") {
				bad = append(bad, fmt.Sprintf(`{"index":%d,"userId":%q,"message":"unknown user"}`, i, d.UserID))
			}
		}
		if len(bad) > 0 {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"message":"some records are invalid","errors":[`+strings.Join(bad, ",")+`]}`)
			return
		}
		a.mu.Lock()
		for _, d := range p.Data {
			a.accepted[d.UserID] = true
		}
		a.mu.Unlock()
		_, _ = io.WriteString(w, `{"version":1,"jobId":"job-1","message":"Accepted"}`)
	}
}

func TestSinkBisectsA400ToTheRecordsTheAPIRefuses(t *testing.T) {
	api := &rejectingAPI{accepted: map[string]bool{}}
	hs := serveFakeAPI(t, api)
	h := startSink(t, testAPIConfig(hs.URL), nil)
	var batch []*streams.Record
	bad := map[int]bool{3: true, 77: true, 78: true, 500: true}
	for i := range 600 {
		u := fmt.Sprintf("good%03d", i)
		if bad[i] {
			u = fmt.Sprintf("bad%03d", i)
		}
		batch = append(batch, record(u, int64(i), attrValue(i)))
	}
	errs := write(t, h.sink, batch)
	for i, err := range errs {
		var se *httpapi.StatusError
		switch {
		case bad[i] && (!errors.Is(err, streams.ErrRejected) || !errors.As(err, &se) || se.Status != 400 || !strings.Contains(err.Error(), "unknown user")):
			t.Errorf("bad record %d: %v, want the API's 400 with its reason", i, err)
		case !bad[i] && err != nil:
			t.Errorf("good record %d: %v", i, err)
		}
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.accepted) != 600-len(bad) {
		t.Fatalf("the API accepted %d users, want %d", len(api.accepted), 600-len(bad))
	}
	// Bisection costs about 2*log2(600) requests per bad record, not one per record.
	if n := api.requests.Load(); n > 100 {
		t.Fatalf("%d requests to isolate %d bad records", n, len(bad))
	}
}

func TestSinkGracefulStopLetsWritesFinish(t *testing.T) {
	_, url := startStandIn(t, func(c *sbups.Config) { c.JobDuration = 300 * time.Millisecond })
	h := startSink(t, testAPIConfig(url), nil)
	var batch []*streams.Record
	for i := range 50 {
		batch = append(batch, record(fmt.Sprintf("u%d", i), int64(i), attrValue(i)))
	}
	o := newOutcomes(t, batch)
	h.sink.Write(context.Background(), batch, o.done)
	waitFor(t, 5*time.Second, "the request to be accepted", func() bool { return h.client.OpenJobs() > 0 })
	// The graceful stop begins: the runtime drains the sink and, for up to
	// its grace, takes the outcomes of the jobs still open.
	h.sink.Drain()
	errs := o.wait(t, 10*time.Second)
	h.stop()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func TestWriteReturnsBeforeTheOutcomes(t *testing.T) {
	// Nothing runs the sink's background work yet: Write still returns, and
	// the record waits in the Batcher without an outcome until it does.
	_, url := startStandIn(t, nil)
	h := newSink(t, testAPIConfig(url), func(c *SinkConfig) { c.Collection = schemas.Segments; c.MaxRecords = 10; c.MaxBodyBytes = 4096 })
	batch := []*streams.Record{{Topic: "t", Value: []byte(`{"userId":"u","value":{"a":"b"}}`)}}
	o := newOutcomes(t, batch)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		h.sink.Write(context.Background(), batch, o.done)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Write waits for the outcome of its records")
	}
	if o.left() != 1 || h.sink.Batcher().Pending() != 1 || h.sink.Batcher().Users() != 1 {
		t.Fatalf("before the sink runs: outcomes missing %d, pending %d, users %d", o.left(), h.sink.Batcher().Pending(), h.sink.Batcher().Users())
	}
	h.start(t)
	if errs := o.wait(t, 10*time.Second); errs[0] != nil {
		t.Fatalf("outcome %v", errs[0])
	}
	h.stop()
	if b := h.sink.Batcher(); b.Pending() != 0 || b.Users() != 0 || h.client.OpenJobs() != 0 {
		t.Fatalf("state left: pending %d, users %d, open jobs %d", b.Pending(), b.Users(), h.client.OpenJobs())
	}
}

// heldJobsAPI accepts each enrichment request as a job named after the
// first user it carries ("job-alice"), and says such a job is RUNNING while
// the user is held, COMPLETED after.
type heldJobsAPI struct {
	mu   sync.Mutex
	held map[string]bool
}

func (a *heldJobsAPI) release(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.held, user)
}

func (a *heldJobsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.Contains(r.URL.Path, "/job/job-"):
		user := strings.Split(strings.SplitN(r.URL.Path, "/job/job-", 2)[1], "/")[0]
		a.mu.Lock()
		held := a.held[user]
		a.mu.Unlock()
		status := "COMPLETED"
		if held {
			status = "RUNNING"
		}
		_, _ = io.WriteString(w, statusBody(status, ""))
	default:
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		var p struct {
			Data []schemas.UPSRecord `json:"data"`
		}
		if err := json.NewDecoder(zr).Decode(&p); err != nil || len(p.Data) == 0 {
			w.WriteHeader(400)
			return
		}
		_, _ = fmt.Fprintf(w, `{"version":1,"jobId":"job-%s","message":"Accepted"}`, p.Data[0].UserID)
	}
}

func TestSinkOutcomesArriveAfterWriteAndOutOfOrder(t *testing.T) {
	// One request per record; alice's job runs until released, the others
	// end at once. Write returns before any outcome; bob's and carol's come
	// while alice's job still runs, and hers only when it ends.
	api := &heldJobsAPI{held: map[string]bool{"alice": true}}
	hs := serveFakeAPI(t, api)
	cfg := testAPIConfig(hs.URL)
	cfg.MaxRecords = 1
	h := startSink(t, cfg, nil)
	batch := []*streams.Record{record("alice", 1, attrValue(1)), record("bob", 2, attrValue(2)), record("carol", 3, attrValue(3))}
	o := newOutcomes(t, batch)
	h.sink.Write(context.Background(), batch, o.done)
	waitFor(t, 10*time.Second, "bob's and carol's outcomes", func() bool { return o.left() == 1 })
	if h.client.OpenJobs() != 1 {
		t.Fatalf("%d open jobs; want alice's only", h.client.OpenJobs())
	}
	api.release("alice")
	errs := o.wait(t, 10*time.Second)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	o.mu.Lock()
	order := fmt.Sprint(o.order)
	o.mu.Unlock()
	if order != "[1 2 0]" && order != "[2 1 0]" {
		t.Fatalf("outcomes in the order %s; want alice's (0) last", order)
	}
	if h.client.OpenJobs() != 0 || h.sink.Batcher().Users() != 0 {
		t.Fatalf("state left: %d open jobs, %d users", h.client.OpenJobs(), h.sink.Batcher().Users())
	}
}

func TestSinkForcedStopLeavesOpenJobsWithoutOutcome(t *testing.T) {
	// The grace ran out while a job was open: its record gets no outcome
	// (it stays uncommitted and is read again), and Close gives back the
	// job's place, which the other sinks of the client share.
	api := &heldJobsAPI{held: map[string]bool{"alice": true}}
	hs := serveFakeAPI(t, api)
	h := startSink(t, testAPIConfig(hs.URL), nil)
	batch := []*streams.Record{record("alice", 1, attrValue(1))}
	o := newOutcomes(t, batch)
	h.sink.Write(context.Background(), batch, o.done)
	waitFor(t, 10*time.Second, "alice's job to be followed", func() bool { return h.sink.follower.Following() == 1 })
	h.sink.Drain()
	h.stop()
	if err := h.sink.Close(); err != nil { // twice: safe
		t.Fatal(err)
	}
	if o.left() != 1 || h.client.OpenJobs() != 0 {
		t.Fatalf("after the forced stop: outcomes missing %d (want 1), open jobs %d (want 0)", o.left(), h.client.OpenJobs())
	}
	for _, p := range h.sink.Parts() {
		if ok, why := p.Ready(); ok || why != "not running" {
			t.Fatalf("%s after the stop: ready %v %q", p.Name(), ok, why)
		}
	}
}

func TestSinkParts(t *testing.T) {
	_, url := startStandIn(t, nil)
	h := newSink(t, testAPIConfig(url), nil)
	var names []string
	for _, p := range h.sink.Parts() {
		names = append(names, p.Name())
		if ok, _ := p.Ready(); ok {
			t.Fatalf("%s ready before the sink started", p.Name())
		}
	}
	if fmt.Sprint(names) != "[test/sender test/job-follower]" {
		t.Fatalf("parts %v", names)
	}
	h.start(t)
	waitFor(t, 5*time.Second, "every part ready", func() bool {
		for _, p := range h.sink.Parts() {
			if ok, _ := p.Ready(); !ok {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, what, testkit.Until(cond))
}
