package contacthub

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/contactlab/connector/schemas"
)

// The stand-in is a witness of its own: bodies the connector's schemas
// accept (and the connector used to post as they came) but the reference
// forbids are refused, each at the member that breaks its rule.
func TestWitnessRefusesWhatTheReferenceForbids(t *testing.T) {
	const (
		rest = `"type":"viewedPage","context":"WEB","properties":{}`
		bb   = `"bringBackProperties":{"type":"SESSION_ID","value":"s-1","nodeId":"` + testNode + `"}`
		cust = `"customerId":"` + testCustomer + `"`
	)
	for _, tc := range []struct {
		name, body, path string
	}{
		// customerId is "string <uuid>", not "or null".
		{"customerId null", `{"customerId":null,` + bb + `,` + rest + `}`, "$.customerId"},
		// contextInfo is "object", not "or null".
		{"contextInfo null", `{` + cust + `,` + rest + `,"contextInfo":null}`, "$.contextInfo"},
		// Silent below tracking: the stand-in reads the sample's strings strictly.
		{"utm null", `{` + cust + `,` + rest + `,"tracking":{"ga":{"utm_source":null}}}`, "$.tracking.ga.utm_source"},
		{"ga null", `{` + cust + `,` + rest + `,"tracking":{"ga":null}}`, "$.tracking.ga"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := schemas.DecodeEvent([]byte(tc.body)); err != nil {
				t.Fatalf("the connector's schemas refuse it too (%v): the case shows nothing", err)
			}
			h := newHarness(t, testConfig())
			a := h.postEvent([]byte(tc.body))
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", a.status, a.body)
			}
			errs := a.apiError(t).Errors
			if !slices.ContainsFunc(errs, func(e fieldError) bool { return e.Path == tc.path }) {
				t.Fatalf("no error at %s in %+v", tc.path, errs)
			}
		})
	}
}

// What the reference allows is accepted, whatever the connector's schemas
// say of it: null where it says "or null", members in any order.
func TestWitnessAcceptsWhatTheReferenceAllows(t *testing.T) {
	const rest = `"type":"viewedPage","context":"WEB","properties":{"a":null}`
	for _, body := range []string{
		`{"customerId":"` + testCustomer + `",` + rest + `,"bringBackProperties":null,"tracking":null}`,
		`{"bringBackProperties":{"type":"EXTERNAL_ID","value":"x-1","nodeId":"` + testNode + `"},` + rest + `,"contextInfo":{"b":null},"date":"2024-05-01T10:00:00.5+02:00"}`,
		`{"customerId":"` + testCustomer + `",` + rest + `,"tracking":{"ga":{"utm_source":"news"},"other":1}}`,
	} {
		h := newHarness(t, testConfig())
		if a := h.postEvent([]byte(body)); a.status != http.StatusAccepted {
			t.Fatalf("%s: status %d: %s", body, a.status, a.body)
		}
	}
}

// The payload limit is a setting: 64kB read as 64 KiB by default, or as
// 64,000 bytes.
func TestCreateEventSizeReadings(t *testing.T) {
	for _, tc := range []struct {
		limit, size, status int
	}{
		{0, DefaultMaxEventBytes, http.StatusAccepted},
		{0, DefaultMaxEventBytes + 1, http.StatusRequestEntityTooLarge},
		{64000, 64000, http.StatusAccepted},
		{64000, 64001, http.StatusRequestEntityTooLarge},
	} {
		cfg := testConfig()
		cfg.MaxEventBytes = tc.limit
		h := newHarness(t, cfg)
		if a := h.postEvent(eventBody(t, testCustomer, tc.size)); a.status != tc.status {
			t.Fatalf("limit %d, %d bytes: status %d, want %d: %s", tc.limit, tc.size, a.status, tc.status, a.body)
		}
	}
}

// BringBackProperties are not allowed for aggregate nodes: refused with
// 403, while the same token creates other events.
func TestCreateEventOnAggregateNode(t *testing.T) {
	const aggregate = "be4f0058-c51e-4909-acdc-373dfba102bd"
	cfg := testConfig()
	cfg.AggregateNodes = []string{aggregate}
	h := newHarness(t, cfg)
	body := `{"bringBackProperties":{"type":"SESSION_ID","value":"s-1","nodeId":"` + aggregate + `"},"type":"viewedPage","context":"WEB","properties":{}}`
	a := h.postEvent([]byte(body))
	if a.status != http.StatusForbidden {
		t.Fatalf("status %d, want 403: %s", a.status, a.body)
	}
	if e := a.apiError(t); len(e.Errors) != 1 || e.Errors[0].Path != "$.bringBackProperties.nodeId" {
		t.Fatalf("errors %+v", e.Errors)
	}
	if a := h.postEvent(eventBody(t, testCustomer, 0)); a.status != http.StatusAccepted {
		t.Fatalf("an event by customerId: %d %s", a.status, a.body)
	}
	if st := h.srv.Stats(); st.Forbidden != 1 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A token without a permission gets 403 on that operation only, and the
// permissions change at run time.
func TestForbiddenOperations(t *testing.T) {
	cfg := testConfig()
	cfg.Forbidden = []string{OpThrottling}
	h := newHarness(t, cfg)
	status := func(method, path string, body []byte) int { return h.do(method, ws(path), body, nil).status }
	if s := status(http.MethodGet, "/configuration/throttling", nil); s != http.StatusForbidden {
		t.Fatalf("throttling: %d, want 403", s)
	}
	if s := status(http.MethodPost, "/events", eventBody(t, testCustomer, 0)); s != http.StatusAccepted {
		t.Fatalf("events: %d, want 202", s)
	}
	h.srv.SetForbidden(OpUpdates, OpLastOffset, OpEvents)
	for _, c := range []struct {
		method, path string
		body         []byte
		want         int
	}{
		{http.MethodGet, "/configuration/throttling", nil, http.StatusOK},
		{http.MethodGet, "/updates", nil, http.StatusForbidden},
		{http.MethodGet, "/updates/last-offset", nil, http.StatusForbidden},
		{http.MethodPost, "/events", eventBody(t, testCustomer, 0), http.StatusForbidden},
	} {
		if s := status(c.method, c.path, c.body); s != c.want {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, s, c.want)
		}
	}
}

// The update stream serves the reference's shape: updates with operation
// and entity only, no per-update offset, unless the option asks for one.
func TestUpdateStreamShape(t *testing.T) {
	for _, withOffsets := range []bool{false, true} {
		t.Run("offsets="+strconv.FormatBool(withOffsets), func(t *testing.T) {
			cfg := testConfig()
			cfg.UpdateOffsets = withOffsets
			h := newHarness(t, cfg)
			h.srv.AppendUpdates(20)
			a := h.do(http.MethodGet, ws("/updates?size=20"), nil, nil)
			var page struct {
				NextOffset *int64                       `json:"nextOffset"`
				Updates    []map[string]json.RawMessage `json:"updates"`
			}
			if a.status != http.StatusOK || json.Unmarshal(a.body, &page) != nil || page.NextOffset == nil || *page.NextOffset != 20 || len(page.Updates) != 20 {
				t.Fatalf("page %d %s", a.status, a.body)
			}
			want := []string{"entity", "operation"}
			if withOffsets {
				want = []string{"entity", "offset", "operation"}
			}
			for _, u := range page.Updates {
				if got := slices.Sorted(maps.Keys(u)); !slices.Equal(got, want) {
					t.Fatalf("update members %v, want %v: %s", got, want, a.body)
				}
			}
		})
	}
}

// A created event enters the stream with an origin the reference lists.
func TestCreatedEventOrigin(t *testing.T) {
	cfg := testConfig()
	cfg.UpdateOffsets = false
	h := newHarness(t, cfg)
	if a := h.postEvent(eventBody(t, testCustomer, 0)); a.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	a := h.do(http.MethodGet, ws("/updates?entity=EVENT"), nil, nil)
	var page struct {
		Updates []struct {
			Entity struct {
				Data struct {
					Origin string `json:"origin"`
				} `json:"data"`
			} `json:"entity"`
		} `json:"updates"`
	}
	if err := json.Unmarshal(a.body, &page); err != nil || len(page.Updates) != 1 {
		t.Fatalf("page %s: %v", a.body, err)
	}
	if o := page.Updates[0].Entity.Data.Origin; o != "NATIVE" && o != "DUPLICATE" {
		t.Fatalf("origin %q is not one the reference lists", o)
	}
}

// A page size above the configured limit is refused with 400 at "size";
// the limit changes at run time.
func TestUpdateStreamPageLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPageSize = 100
	h := newHarness(t, cfg)
	a := h.do(http.MethodGet, ws("/updates?size=101"), nil, nil)
	if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), `"path":"size"`) {
		t.Fatalf("size above the limit: %d %s", a.status, a.body)
	}
	if a := h.do(http.MethodGet, ws("/updates?size=100"), nil, nil); a.status != http.StatusOK {
		t.Fatalf("size at the limit: %d %s", a.status, a.body)
	}
	h.srv.SetMaxPageSize(0)
	if a := h.do(http.MethodGet, ws("/updates?size=4000"), nil, nil); a.status != http.StatusOK {
		t.Fatalf("after the limit is lifted: %d %s", a.status, a.body)
	}
}

// Repeated member names are found at any depth, spelt with escapes or not,
// and reported once at the member's path.
func TestRepeatedMembers(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []string
	}{
		{`{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}`, nil},
		{`{"a":1,"a":2,"a":3}`, []string{"$.a"}},
		{`{"customerId":"x","customer\u0049d":"y"}`, []string{"$.customerId"}},
		{`{"p":{"x":"a\"y\":","y":1}}`, nil},
		{`{"l":[1,{"k":1,"k":2}],"t":{"ga":{"u":1, "u" :2}}}`, []string{"$.l[1].k", "$.t.ga.u"}},
		{`{"a":`, nil}, // not JSON: left to the decoder
	} {
		var got []string
		for _, e := range repeatedMembers([]byte(tc.body)) {
			got = append(got, e.Path)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.body, got, tc.want)
		}
	}
}

// FuzzCheckCreateEvent: the witness never panics, and what it accepts is
// one JSON object with no repeated member.
func FuzzCheckCreateEvent(f *testing.F) {
	f.Add([]byte(`{"customerId":"` + testCustomer + `","type":"viewedPage","context":"WEB","properties":{"a":[1,{"b":null}]}}`))
	f.Add([]byte(`{"bringBackProperties":{"type":"SESSION_ID","value":"v","nodeId":"` + testNode + `"},"type":"loggedIn","context":"WEB","properties":{},"a":"\"}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, errs := checkCreateEvent(body)
		if errs == nil && (ev == nil || !json.Valid(body) || len(repeatedMembers(body)) > 0) {
			t.Fatalf("accepted %q", body)
		}
	})
}
