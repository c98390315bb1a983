package ups

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox/internal/apitest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
)

func TestEnrichRefusals(t *testing.T) {
	// Throttling has its own test; here it would make cases depend on the
	// ones before them.
	cfg := testConfig()
	cfg.UpdatesPerSecond = NoLimit
	sb := newSandbox(t, cfg, nil)
	tok, statusTok := sb.token(attributesService), sb.token(statusService)
	valid := gz(t, batch(attrs("u", 2)))
	one := gz(t, map[string]any{"data": attrs("u", 1)[0]})
	headers := func(tok, encoding string) http.Header {
		h := bearer(tok)
		if encoding != "" {
			h.Set("Content-Encoding", encoding)
		}
		return h
	}
	path := func(collection string) string { return "/attributes/api/v1/" + testAPIKey + "/" + collection }
	tests := []struct {
		name    string
		method  string
		path    string
		header  http.Header
		body    []byte
		status  int
		message string
	}{
		{"valid POST", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), valid, http.StatusOK, "Accepted"},
		{"valid PUT", http.MethodPut, path("rr-userattributes"), headers(tok, "gzip"), one, http.StatusOK, "Accepted"},
		{"no token", http.MethodPost, path("rr-userattributes"), http.Header{"Content-Encoding": {"gzip"}}, valid, http.StatusUnauthorized, "bearer token"},
		{"status token", http.MethodPost, path("rr-userattributes"), headers(statusTok, "gzip"), valid, http.StatusUnauthorized, "bearer token"},
		{"other apiKey", http.MethodPost, "/attributes/api/v1/609/rr-userattributes", headers(tok, "gzip"), valid, http.StatusNotFound, "apiKey"},
		{"unknown collection", http.MethodPost, path("rr-whatever"), headers(tok, "gzip"), valid, http.StatusNotFound, "collection"},
		{"wrong method", http.MethodDelete, path("rr-userattributes"), headers(tok, "gzip"), valid, http.StatusMethodNotAllowed, "method"},
		// The reference requires gzip; plain JSON is a malformed payload...
		{"no Content-Encoding", http.MethodPost, path("rr-userattributes"), headers(tok, ""), []byte(`{"data":[]}`), http.StatusBadRequest, "gzip"},
		// ...and an encoding it does not speak is an unsupported one.
		{"deflate", http.MethodPost, path("rr-userattributes"), headers(tok, "deflate"), valid, http.StatusUnsupportedMediaType, "deflate"},
		{"gzip header, plain body", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), []byte(`{"data":[]}`), http.StatusBadRequest, "not valid gzip"},
		{"truncated gzip", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), valid[:len(valid)-6], http.StatusBadRequest, "not valid gzip"},
		{"not JSON", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), gz(t, []byte("data: 1")), http.StatusBadRequest, "not valid JSON"},
		{"JSON array", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), gz(t, []any{batch(attrs("u", 1))}), http.StatusBadRequest, "must be a JSON object"},
		// The record rules are the JSON Schemas', read by the stand-in itself.
		{"segment value not a string", http.MethodPost, path("rr-segments"), headers(tok, "gzip"), valid, http.StatusBadRequest, "$.value.fav_color: must be a string"},
		{"unknown record member", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"),
			gz(t, []byte(`{"data":[{"userId":"a","value":{"k":["v"]},"extra":1}]}`)), http.StatusBadRequest, "$.extra: is not a known field"},
		{"no data", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), gz(t, map[string]any{"siteId": 1}), http.StatusBadRequest, "data is required"},
		{"empty data", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), gz(t, batch(nil)), http.StatusBadRequest, "data"},
		{"empty array", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), gz(t, batch([]rec{})), http.StatusBadRequest, "no records"},
		{"object for POST", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), one, http.StatusBadRequest, "must be an array"},
		{"array for PUT", http.MethodPut, path("rr-userattributes"), headers(tok, "gzip"), valid, http.StatusBadRequest, "one record object"},
		{"siteId not integer", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"),
			gz(t, map[string]any{"siteId": "1723", "data": attrs("u", 1)}), http.StatusBadRequest, "siteId must be an integer"},
		{"siteId integer", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"),
			gz(t, map[string]any{"siteId": 1723, "data": attrs("u", 1)}), http.StatusOK, "Accepted"},
		{"grouped userlinking", http.MethodPost, path("userlinking"), headers(tok, "gzip"),
			gz(t, map[string]any{"type": "grouped", "data": []rec{{UserID: "a", Value: []string{"983448b36267fc69"}}}}), http.StatusOK, "Accepted"},
		{"other type", http.MethodPost, path("userlinking"), headers(tok, "gzip"),
			gz(t, map[string]any{"type": "explicit", "data": []rec{{UserID: "a", Value: []string{"1"}}}}), http.StatusBadRequest, `must be \"grouped\"`},
		{"type not string", http.MethodPost, path("userlinking"), headers(tok, "gzip"),
			gz(t, map[string]any{"type": 1, "data": []rec{{UserID: "a", Value: []string{"1"}}}}), http.StatusBadRequest, "type must be a string"},
		{"type on segments", http.MethodPost, path("rr-segments"), headers(tok, "gzip"),
			gz(t, map[string]any{"type": "grouped", "data": attrs("u", 1)}), http.StatusBadRequest, "only defined for userlinking"},
		{"1000 records", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), gz(t, batch(attrs("u", 1000))), http.StatusOK, "Accepted"},
		{"1001 records", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), gz(t, batch(attrs("u", 1001))), http.StatusBadRequest, "1001 records exceed the limit of 1000"},
		{"above 50 KB as sent", http.MethodPost, path("rr-userattributes"), headers(tok, "gzip"), incompressible(t, 60), http.StatusRequestEntityTooLarge, "larger than 51200 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb.t = t
			a := sb.do(tt.method, tt.path, tt.header, tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tt.status)
			}
			mustContain(t, a.body, tt.message)
		})
	}
}

// incompressible returns a gzipped payload of at most 1000 valid records
// that is above kb kilobytes as sent: random values defeat gzip.
func incompressible(t testing.TB, kb int) []byte {
	recs := make([]rec, 1000)
	for i := range recs {
		b := make([]byte, 64)
		_, _ = rand.Read(b)
		recs[i] = rec{UserID: fmt.Sprint("u", i), Value: map[string]any{"k": hex.EncodeToString(b)}}
	}
	body := gz(t, batch(recs))
	if len(body) <= kb*1024 {
		t.Fatalf("incompressible payload is only %d bytes", len(body))
	}
	return body
}

// The limit is on the body as sent: a payload far above 50 KB once
// decompressed passes if it is small compressed, and the limit is exact.
func TestBodyLimitIsMeasuredAsSent(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	tok := sb.token(attributesService)
	raw, _ := json.Marshal(batch(attrs("a-fairly-long-user-id-prefix-", 1000)))
	if len(raw) < DefaultMaxBodyBytes*3/2 {
		t.Fatalf("test payload is %d bytes decompressed, want it well above the limit", len(raw))
	}
	body := gz(t, raw)
	post := func(limit int) int {
		sb.srv.SetLimits(0, DefaultMaxRecords, limit)
		h := bearer(tok)
		h.Set("Content-Encoding", "gzip")
		return sb.do(http.MethodPost, "/attributes/api/v1/"+testAPIKey+"/rr-userattributes", h, body).status
	}
	if got := post(DefaultMaxBodyBytes); got != http.StatusOK {
		t.Errorf("%d bytes sent (%d decompressed) under the default limit: %d, want 200", len(body), len(raw), got)
	}
	if got := post(len(body)); got != http.StatusOK {
		t.Errorf("body exactly at the limit: %d, want 200", got)
	}
	if got := post(len(body) - 1); got != http.StatusRequestEntityTooLarge {
		t.Errorf("body one byte above the limit: %d, want 413", got)
	}
	if st := sb.srv.Stats(); st.TooLarge413 != 1 || st.Accepted != 2 {
		t.Errorf("stats: %d too large, %d accepted; want 1 and 2", st.TooLarge413, st.Accepted)
	}
}

// A chunked body has no Content-Length to check up front; the limit must
// hold all the same.
func TestBodyLimitWithoutContentLength(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	tok := sb.token(attributesService)
	body := incompressible(t, 60)
	req, _ := http.NewRequest(http.MethodPost, sb.hs.URL+"/attributes/api/v1/"+testAPIKey+"/rr-userattributes", struct{ *bytes.Reader }{bytes.NewReader(body)})
	req.Header = bearer(tok)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := sb.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked %d bytes: %d, want 413", len(body), resp.StatusCode)
	}
}

// One bad record refuses the whole payload, and the answer names every bad
// record, so that a client can drop those and send the rest again.
func TestInvalidRecordsAreListed(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	tok := sb.token(attributesService)
	good := `{"userId":"ok","value":{"fav_color":["red"]}}`
	body := []byte(`{"data":[` + good + `,
		{"value":{"fav_color":["red"]}},
		` + good + `,
		{"userId":12,"value":{"fav_color":["red"]}},
		{"userId":"bad-value","value":"red"},
		"not a record",
		` + good + `]}`)
	a := sb.send(http.MethodPost, "rr-userattributes", tok, body)
	if a.status != http.StatusBadRequest {
		t.Fatalf("status %d %s, want 400", a.status, a.body)
	}
	var ae apiError
	a.decode(t, &ae)
	var got []int
	for _, e := range ae.Errors {
		got = append(got, e.Index)
		if e.Message == "" {
			t.Errorf("record %d: no message", e.Index)
		}
	}
	if want := []int{1, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("bad records %v, want %v (answer %s)", got, want, a.body)
	}
	users := map[int]string{}
	for _, e := range ae.Errors {
		users[e.Index] = e.UserID
	}
	if users[3] != "12" || users[4] != "bad-value" {
		t.Errorf("userIds of the bad records %v, want 3:12 and 4:bad-value", users)
	}
	mustContain(t, a.body, "4 of 7 records are invalid")

	// Nothing was accepted: no job, and the throttling budget is whole.
	st := sb.srv.Stats()
	if st.Jobs != 0 || st.RecordsAccepted != 0 || st.Rejected400 != 1 {
		t.Errorf("stats after the refusal: %+v", st)
	}
	sb.accepted(http.MethodPost, "rr-userattributes", tok, batch(attrs("u", DefaultUpdatesPerSecond)))
}

func TestPutTakesOneObject(t *testing.T) {
	clock := newFakeClock()
	sb := newSandbox(t, testConfig(), clock)
	tok := sb.token(attributesService)
	value := map[string]any{"Member": "isMember-t1", "Non-CardHolder": "isMCHolder-f3"}
	aa := sb.accepted(http.MethodPut, "rr-segments", tok, map[string]any{"data": rec{UserID: "123abcde", Value: value}})
	if aa.Message != "Accepted" || aa.Version != clock.Now().UnixMilli() {
		t.Errorf("answer %+v, want Accepted with version %d", aa, clock.Now().UnixMilli())
	}
	if _, ok := parseUUID(aa.JobID); !ok {
		t.Errorf("jobId %q is not a uuid", aa.JobID)
	}
	clock.Advance(DefaultJobDuration)
	got, updates, ok := sb.srv.Stored(schemas.Segments, "123abcde")
	want, _ := json.Marshal(value)
	if !ok || updates != 1 || !testkit.JSONEqual(got, want) {
		t.Errorf("Stored = %s, %d, %v; want %s, 1, true", got, updates, ok, want)
	}
	if st := sb.srv.Stats(); st.MeanFillRecords != 1 || st.RecordsAccepted != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// Concurrent clients over real HTTP, for the race detector, and every
// record accounted for at the end.
func TestConcurrentClients(t *testing.T) {
	cfg := testConfig()
	cfg.UpdatesPerSecond = NoLimit
	cfg.JobDuration = time.Millisecond
	sb := newSandbox(t, cfg, nil)
	tok := sb.token(attributesService)
	const clients, posts, records = 8, 10, 50
	var wg sync.WaitGroup
	errs := make(chan string, clients*posts)
	for c := range clients {
		wg.Go(func() {
			for p := range posts {
				a := sb.send(http.MethodPost, "rr-userattributes", tok, batch(attrs(fmt.Sprintf("c%d-p%d-", c, p), records)))
				if a.status != http.StatusOK {
					errs <- fmt.Sprintf("client %d post %d: %d %s", c, p, a.status, a.body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	testkit.WaitFor(t, 5*time.Second, "every job to complete", testkit.Until(func() bool {
		return sb.srv.Stats().PerCollection["rr-userattributes"].Users == clients*posts*records
	}))
	if st := sb.srv.Stats(); st.Jobs != clients*posts || st.RecordsAccepted != clients*posts*records || st.MeanFillRecords != records {
		t.Errorf("stats: %+v", st)
	}
}

// FuzzDecodePayload guards the decoder against panics and against answers
// that contradict themselves.
func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte(`{"data":[{"userId":"a","value":{"k":["v"]}}]}`), false)
	f.Add([]byte(`{"siteId":1723,"type":"grouped","data":[{"userId":"a","value":["b"]},{"userId":1}]}`), false)
	f.Add([]byte(`{"data":{"userId":"a","value":{"k":"v"}}}`), true)
	f.Add([]byte(`{"data":[1,"x",null,[]]}`), false)
	f.Add([]byte(`{"siteId":"x","data":[]}`), false)
	f.Add([]byte(`[{"data":[]}]`), false)
	f.Fuzz(func(t *testing.T, body []byte, single bool) {
		p, err := decodePayload(body, single)
		if err != nil {
			return
		}
		if len(p.elems) == 0 {
			t.Fatal("no error and no records")
		}
		if single && len(p.elems) != 1 {
			t.Fatalf("PUT decoded into %d records", len(p.elems))
		}
		for _, c := range schemas.Collections {
			records, bad := p.records(c)
			if len(records)+len(bad) != len(p.elems) {
				t.Fatalf("%s: %d good and %d bad records of %d", c, len(records), len(bad), len(p.elems))
			}
			for j, b := range bad {
				if b.Index < 0 || b.Index >= len(p.elems) || (j > 0 && b.Index <= bad[j-1].Index) || b.Message == "" {
					t.Fatalf("%s: bad records %+v", c, bad)
				}
			}
		}
	})
}

// BenchmarkPost1000Records measures the stand-in's throughput over real
// loopback HTTP with the throttling lifted: full 1000-record payloads, as
// a well-batching connector sends them, from parallel clients.
func BenchmarkPost1000Records(b *testing.B) {
	cfg := testConfig()
	cfg.UpdatesPerSecond = NoLimit
	sb := newSandbox(b, cfg, nil)
	tok := sb.token(attributesService)
	// User ids like the reference's (sha256 hex) and varied values, so that
	// gzip does about as well as on real traffic.
	colors := []string{"red", "green", "blue", "black", "white", "orange", "purple"}
	recs := make([]rec, 1000)
	for i := range recs {
		id := sha256.Sum256([]byte(fmt.Sprint("bench-user-", i)))
		recs[i] = rec{UserID: hex.EncodeToString(id[:]), Value: map[string]any{
			"fav_color": []string{colors[i%len(colors)], colors[(i/7)%len(colors)]},
			"tier":      []string{fmt.Sprint("tier-", i%5)},
		}}
	}
	body := gz(b, batch(recs))
	if len(body) > DefaultMaxBodyBytes {
		b.Fatalf("benchmark payload is %d bytes, above the limit", len(body))
	}
	url := sb.hs.URL + "/attributes/api/v1/" + testAPIKey + "/rr-userattributes"
	b.SetBytes(int64(len(body)))
	header := bearer(tok)
	header.Set("Content-Encoding", "gzip")
	apitest.PostParallel(b, sb.hs, url, header, body, func(resp *http.Response) error {
		var aa acceptedAnswer
		err := json.NewDecoder(resp.Body).Decode(&aa)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d, %v", resp.StatusCode, err)
		}
		return nil
	})
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}
