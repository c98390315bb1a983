package contacthub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/schemas"
)

// eventBody is a valid event for customer, padded with a property so the
// body is exactly size bytes (size 0: no padding).
func eventBody(t testing.TB, customer string, size int) []byte {
	t.Helper()
	const format = `{"customerId":%q,"type":"viewedPage","context":"WEB","properties":{"pad":"%s"},"date":"2024-05-01T10:00:00Z"}`
	b := fmt.Appendf(nil, format, customer, "")
	if size > 0 {
		if size < len(b) {
			t.Fatalf("event cannot be as small as %d bytes", size)
		}
		b = fmt.Appendf(nil, format, customer, strings.Repeat("x", size-len(b)))
	}
	if _, err := schemas.DecodeEvent(b); err != nil && size <= schemas.MaxEventBytes {
		t.Fatalf("test event is invalid: %v", err)
	}
	return b
}

func TestCreateEventAuth(t *testing.T) {
	tests := []struct {
		name   string
		auth   string // "" sends no Authorization header
		status int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"token as prefix", "Bearer " + testToken + "x", http.StatusUnauthorized},
		{"basic scheme", "Basic " + testToken, http.StatusUnauthorized},
		{"token without scheme", testToken, http.StatusUnauthorized},
		// RFC 9110: the scheme is case-insensitive; a client must not fail on it.
		{"lower-case scheme", "bearer " + testToken, http.StatusAccepted},
		{"right token", "Bearer " + testToken, http.StatusAccepted},
	}
	h := newHarness(t, testConfig())
	var wantUnauthorized int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(http.MethodPost, ws("/events"), eventBody(t, testCustomer, 0), map[string]string{"Authorization": tt.auth})
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.status == http.StatusUnauthorized {
				wantUnauthorized++
				a.apiError(t)
			}
		})
	}
	if got := h.srv.Stats().Unauthorized; got != wantUnauthorized {
		t.Fatalf("Stats.Unauthorized = %d, want %d", got, wantUnauthorized)
	}
}

func TestRouting(t *testing.T) {
	other := uuid.NewString()
	tests := []struct {
		name, method, path string
		status             int
	}{
		// The token is valid, the workspace is not ours.
		{"other workspace", http.MethodPost, "/workspaces/" + other + "/events", http.StatusNotFound},
		{"other workspace stream", http.MethodGet, "/workspaces/" + other + "/updates", http.StatusNotFound},
		{"unknown resource", http.MethodGet, ws("/customers"), http.StatusNotFound},
		{"outside workspaces", http.MethodGet, "/nothing", http.StatusNotFound},
		{"events by GET", http.MethodGet, ws("/events"), http.StatusMethodNotAllowed},
		{"updates by POST", http.MethodPost, ws("/updates"), http.StatusMethodNotAllowed},
		{"stats by POST", http.MethodPost, "/stats", http.StatusMethodNotAllowed},
	}
	h := newHarness(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.method == http.MethodPost {
				body = eventBody(t, testCustomer, 0)
			}
			a := h.do(tt.method, tt.path, body, nil)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			a.apiError(t)
		})
	}
	if got := h.srv.Stats().Accepted; got != 0 {
		t.Fatalf("Accepted = %d after only misrouted requests", got)
	}
}

// TestCreateEventValidation sends one body per rule of the reference and
// checks that the stand-in refuses it with an error at the path of each
// broken rule, and that the connector's schemas refuse it too: the two
// judge by rules of their own and must agree on these.
func TestCreateEventValidation(t *testing.T) {
	const (
		cust = `"customerId":"` + testCustomer + `"`
		rest = `"type":"viewedPage","context":"WEB","properties":{}`
		bb   = `"bringBackProperties":{"type":"SESSION_ID","value":"s-1","nodeId":"` + testNode + `"}`
	)
	tests := []struct {
		name  string
		body  string
		paths []string // paths that must be among the errors
	}{
		{"not JSON", `{"customerId":`, []string{"$"}},
		{"not an object", `[1,2]`, []string{"$"}},
		{"no identity", `{` + rest + `}`, []string{"$"}},
		{"both identities", `{` + cust + `,` + bb + `,` + rest + `}`, []string{"$"}},
		{"customerId not a uuid", `{"customerId":"c-1",` + rest + `}`, []string{"$.customerId"}},
		{"type missing", `{` + cust + `,"context":"WEB","properties":{}}`, []string{"$.type"}},
		{"type unknown", `{` + cust + `,"type":"bought","context":"WEB","properties":{}}`, []string{"$.type"}},
		{"context unknown", `{` + cust + `,"type":"viewedPage","context":"TV","properties":{}}`, []string{"$.context"}},
		{"properties missing", `{` + cust + `,"type":"viewedPage","context":"WEB"}`, []string{"$.properties"}},
		{"properties not an object", `{` + cust + `,"type":"viewedPage","context":"WEB","properties":[]}`, []string{"$.properties"}},
		{"date not a date-time", `{` + cust + `,` + rest + `,"date":"yesterday"}`, []string{"$.date"}},
		{"unknown member", `{` + cust + `,` + rest + `,"customer":"x"}`, []string{"$.customer"}},
		{"duplicate member", `{` + cust + `,` + cust + `,` + rest + `}`, []string{"$.customerId"}},
		{"bringBack incomplete", `{"bringBackProperties":{"type":"COOKIE"},` + rest + `}`,
			[]string{"$.bringBackProperties.type", "$.bringBackProperties.value", "$.bringBackProperties.nodeId"}},
		{"tracking utm not a string", `{` + cust + `,` + rest + `,"tracking":{"ga":{"utm_source":1}}}`, []string{"$.tracking.ga.utm_source"}},
		{"several at once", `{"customerId":1,"type":2,"context":3}`, []string{"$.customerId", "$.type", "$.context", "$.properties"}},
	}
	h := newHarness(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schemas.DecodeEvent([]byte(tt.body))
			var verr *schemas.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("DecodeEvent(%s) = %v, want a *schemas.ValidationError", tt.body, err)
			}
			a := h.postEvent([]byte(tt.body))
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", a.status, a.body)
			}
			got := a.apiError(t).Errors
			for _, p := range tt.paths {
				if !slices.ContainsFunc(got, func(e fieldError) bool { return e.Path == p }) {
					t.Errorf("no error at %s in %+v", p, got)
				}
			}
		})
	}
	st := h.srv.Stats()
	if st.Rejected != int64(len(tests)) || st.Accepted != 0 {
		t.Fatalf("Rejected %d, Accepted %d; want %d and 0", st.Rejected, st.Accepted, len(tests))
	}
}

func TestCreateEventSize(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the limit must hold while reading
		status  int
	}{
		{"small", 0, false, http.StatusAccepted},
		{"exactly 64 kB", DefaultMaxEventBytes, false, http.StatusAccepted},
		{"one byte over", DefaultMaxEventBytes + 1, false, http.StatusRequestEntityTooLarge},
		{"far over", 1 << 20, false, http.StatusRequestEntityTooLarge},
		{"exactly 64 kB chunked", DefaultMaxEventBytes, true, http.StatusAccepted},
		{"one byte over chunked", DefaultMaxEventBytes + 1, true, http.StatusRequestEntityTooLarge},
	}
	h := newHarness(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := eventBody(t, testCustomer, tt.size)
			var rd io.Reader = bytes.NewReader(body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length from net/http
			}
			req, err := http.NewRequest(http.MethodPost, h.web.URL+ws("/events"), rd)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.web.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status != http.StatusAccepted {
				answer{body: b}.apiError(t)
			}
		})
	}
}

// TestCreateEventCheckOrder pins which failure wins when a request has
// several: the connector's retry decisions depend on it (a 401 or 429 is
// retried, a 413 or 400 is dead-lettered).
func TestCreateEventCheckOrder(t *testing.T) {
	big := eventBody(t, testCustomer, DefaultMaxEventBytes+1)
	bigInvalid := append([]byte(`{"x":"`), bytes.Repeat([]byte("y"), DefaultMaxEventBytes)...)
	bigInvalid = append(bigInvalid, `"}`...)
	tests := []struct {
		name      string
		body      []byte
		header    map[string]string
		throttled bool
		status    int
	}{
		{"auth before size", big, map[string]string{"Authorization": "Bearer bad"}, false, http.StatusUnauthorized},
		{"throttle before size", big, nil, true, http.StatusTooManyRequests},
		{"size before media type", big, map[string]string{"Content-Type": "text/plain"}, false, http.StatusRequestEntityTooLarge},
		{"size before validation", bigInvalid, nil, false, http.StatusRequestEntityTooLarge},
		{"media type before validation", []byte(`{}`), map[string]string{"Content-Type": "text/plain"}, false, http.StatusUnsupportedMediaType},
		{"media type with charset is JSON", eventBody(t, testCustomer, 0), map[string]string{"Content-Type": "application/json; charset=utf-8"}, false, http.StatusAccepted},
		{"no media type", eventBody(t, testCustomer, 0), map[string]string{"Content-Type": ""}, false, http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig())
			if tt.throttled {
				h.srv.SetMaxRequestsPerMinute(1)
				if a := h.postEvent(eventBody(t, testCustomer, 0)); a.status != http.StatusAccepted {
					t.Fatalf("first request: %d %s", a.status, a.body)
				}
			}
			a := h.do(http.MethodPost, ws("/events"), tt.body, tt.header)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
		})
	}
}

func TestCreateEventAccounting(t *testing.T) {
	h := newHarness(t, testConfig())
	a := eventBody(t, testCustomer, 0)
	b := eventBody(t, "11111111-2222-4333-8444-555555555555", 0)
	anon := []byte(`{"bringBackProperties":{"type":"SESSION_ID","value":"sess-9","nodeId":"` + testNode + `"},"type":"loggedIn","context":"WEB","properties":{}}`)
	// The same event as a, with other bytes: a different body, not a duplicate.
	aSpaced := append([]byte(" "), a...)

	ids := map[string]bool{}
	for _, body := range [][]byte{a, a, a, b, anon, aSpaced} {
		ans := h.postEvent(body)
		if ans.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", ans.status, ans.body)
		}
		var created struct{ ID string }
		if err := json.Unmarshal(ans.body, &created); err != nil || uuid.Validate(created.ID) != nil {
			t.Fatalf("202 body %s: want {\"id\": <uuid>} (%v)", ans.body, err)
		}
		if ids[created.ID] {
			t.Fatalf("id %s given twice", created.ID)
		}
		ids[created.ID] = true
	}
	if h.postEvent([]byte(`{}`)).status != http.StatusBadRequest {
		t.Fatal("empty event accepted")
	}

	for _, c := range []struct {
		body []byte
		want int
	}{{a, 3}, {b, 1}, {anon, 1}, {aSpaced, 1}, {[]byte(`{}`), 0}, {eventBody(t, testNode, 0), 0}} {
		if got := h.srv.AcceptedCount(c.body); got != c.want {
			t.Errorf("AcceptedCount(%s) = %d, want %d", c.body, got, c.want)
		}
	}
	st := h.srv.Stats()
	want := Stats{
		Accepted: 6, Rejected: 1, DuplicateBodies: 2, DistinctBodies: 4,
		PerCustomer: map[string]int64{testCustomer: 4, "11111111-2222-4333-8444-555555555555": 1, "sess-9": 1},
	}
	if st.Accepted != want.Accepted || st.Rejected != want.Rejected || st.DuplicateBodies != want.DuplicateBodies ||
		st.DistinctBodies != want.DistinctBodies || !maps.Equal(st.PerCustomer, want.PerCustomer) {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	// The snapshot is the caller's: changing it must not change the server.
	st.PerCustomer[testCustomer] = 100
	if h.srv.Stats().PerCustomer[testCustomer] != 4 {
		t.Fatal("Stats.PerCustomer aliases the live map")
	}

	// GET /stats serves the same numbers, without auth.
	ans := h.do(http.MethodGet, "/stats", nil, map[string]string{"Authorization": ""})
	var served Stats
	if ans.status != http.StatusOK || json.Unmarshal(ans.body, &served) != nil {
		t.Fatalf("GET /stats: %d %s", ans.status, ans.body)
	}
	if served.Accepted != 6 || served.DuplicateBodies != 2 || served.PerCustomer["sess-9"] != 1 {
		t.Fatalf("GET /stats = %s", ans.body)
	}
}

// TestFaultsWrapOnlyTheAPI: with every API request failing, /stats and
// /faults still answer, so a test can watch and repair the sandbox.
func TestFaultsWrapOnlyTheAPI(t *testing.T) {
	cfg := testConfig()
	cfg.Faults = fault.Settings{ServerErrorShare: 1}
	h := newHarness(t, cfg)

	if a := h.postEvent(eventBody(t, testCustomer, 0)); a.status != http.StatusServiceUnavailable {
		t.Fatalf("POST events under faults: %d", a.status)
	}
	if a := h.do(http.MethodGet, "/stats", nil, nil); a.status != http.StatusOK {
		t.Fatalf("GET /stats under faults: %d", a.status)
	}
	if a := h.do(http.MethodPut, "/faults", []byte(`{"unauthorized_for":"1m"}`), nil); a.status != http.StatusOK {
		t.Fatalf("PUT /faults: %d %s", a.status, a.body)
	}
	// An injected 401 is a fault, not a bad token: it must not be counted as one.
	if a := h.postEvent(eventBody(t, testCustomer, 0)); a.status != http.StatusUnauthorized {
		t.Fatalf("POST events in the 401 window: %d", a.status)
	}
	h.srv.Faults().Set(fault.Settings{})
	if a := h.postEvent(eventBody(t, testCustomer, 0)); a.status != http.StatusAccepted {
		t.Fatalf("POST events after faults cleared: %d %s", a.status, a.body)
	}
	st := h.srv.Stats()
	if st.Faults.ServerErrors != 1 || st.Faults.Unauthorized != 1 || st.Unauthorized != 0 || st.Accepted != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}
