package contacthub

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

func (h *harness) createCustomer(body string) answer {
	h.t.Helper()
	return h.do(http.MethodPost, ws("/customers"), []byte(body), nil)
}

func (h *harness) patchCustomer(id, body string) answer {
	h.t.Helper()
	return h.do(http.MethodPatch, ws("/customers/"+id), []byte(body), nil)
}

func (h *harness) createSession(id, value string) answer {
	h.t.Helper()
	return h.do(http.MethodPost, ws("/customers/"+id+"/sessions"), []byte(`{"value": "`+value+`"}`), nil)
}

// customerDoc decodes a customer answer.
func customerDoc(t testing.TB, a answer) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(a.body, &doc); err != nil {
		t.Fatalf("customer answer %q: %v", a.body, err)
	}
	return doc
}

// lookup follows a path of object members in a decoded document.
func lookup(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func created(t testing.TB, h *harness, ext string) string {
	t.Helper()
	a := h.createCustomer(`{"nodeId": "` + testNode + `", "externalId": "` + ext + `"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("create %s: status %d: %s", ext, a.status, a.body)
	}
	return customerDoc(t, a)["id"].(string)
}

// Create customer under MERGE is an upsert: the second create of the same
// externalId (in any case) updates the first customer.
func TestCreateCustomerMerges(t *testing.T) {
	h := newHarness(t, testConfig())
	before := h.srv.LastOffset()
	a := h.createCustomer(`{"nodeId": "` + testNode + `", "externalId": "C-1001",
		"base": {"firstName": "Marco", "lastName": "Rossi", "contacts": {"email": "marco@example.com"}},
		"tags": {"manual": ["vip", "newsletter"]}, "extra": "first"}`)
	if a.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", a.status, a.body)
	}
	first := customerDoc(t, a)
	id, _ := first["id"].(string)
	if !isUUID(id) || first["nodeId"] != testNode || first["registeredAt"] == nil || first["version"] != 1.0 {
		t.Fatalf("created customer %s", a.body)
	}

	a = h.createCustomer(`{"nodeId": "` + testNode + `", "externalId": "c-1001",
		"base": {"firstName": "Luca", "contacts": {"mobilePhone": "+39 333 0000000"}},
		"tags": {"manual": ["newsletter", "b2b"]}}`)
	if a.status != http.StatusCreated {
		t.Fatalf("merge: status %d: %s", a.status, a.body)
	}
	merged := customerDoc(t, a)
	for path, want := range map[string]any{
		"id":                        id,
		"base.firstName":            "Luca",              // replaced
		"base.lastName":             "Rossi",             // kept
		"base.contacts.email":       "marco@example.com", // kept, inside a merged object
		"base.contacts.mobilePhone": "+39 333 0000000",   // added
		"externalId":                "c-1001",
		"version":                   2.0,
	} {
		if got := lookup(merged, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	// "All collection elements are appended to the existing ones and
	// deduplicated."
	if got := lookup(merged, "tags.manual"); !slices.Equal(toStrings(got), []string{"vip", "newsletter", "b2b"}) {
		t.Errorf("tags.manual = %v", got)
	}
	st := h.srv.CustomersStats()
	if st.Created != 1 || st.Merged != 1 || st.Customers != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got, ok := h.srv.FindCustomer(testNode, "C-1001"); !ok || got != id {
		t.Fatalf("FindCustomer = %q, %v", got, ok)
	}
	if calls := h.srv.CustomerCalls(id); !slices.Equal(calls, []CustomerCall{{"create", "first"}, {"merge", ""}}) {
		t.Fatalf("calls %+v", calls)
	}
	// Both changes are on the update stream, as CREATE then UPDATE.
	if h.srv.LastOffset() != before+2 {
		t.Fatalf("update stream went from %d to %d", before, h.srv.LastOffset())
	}
	page := h.do(http.MethodGet, ws("/updates?entity=CUSTOMER&size=4000"), nil, nil)
	if !strings.Contains(string(page.body), `"operation":"CREATE"`) || !strings.Contains(string(page.body), `"operation":"UPDATE"`) ||
		!strings.Contains(string(page.body), id) {
		t.Fatalf("update stream lacks the customer's changes: %.400s", page.body)
	}
	get := h.do(http.MethodGet, ws("/customers/"+id), nil, nil)
	if get.status != http.StatusOK || customerDoc(t, get)["version"] != 2.0 {
		t.Fatalf("get customer: %d %s", get.status, get.body)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// Each rule of the reference, each answered 400 with the path that broke
// it, before anything is stored.
func TestCustomerRules(t *testing.T) {
	rep := strings.Repeat
	create := func(members string) string {
		return `{"nodeId": "` + testNode + `", "externalId": "C-1"` + members + `}`
	}
	tests := []struct {
		name   string
		body   string
		status int
		paths  []string
	}{
		{"minimal", create(""), http.StatusCreated, nil},
		{"at every limit", create(`, "base": {"firstName": "` + rep("è", 255) + `", "address": {"street": "` + rep("s", 500) + `"}, "pictureUrl": "` + rep("p", 1000) +
			`"}, "tags": {"auto": ["` + rep("a", 600) + `", "` + rep("b", 400) + `"], "manual": ["` + rep("m", 1000) + `"]}, "extended": {"notes": "` + rep("n", 3000) + `"}`), http.StatusCreated, nil},
		{"no nodeId", `{"externalId": "C-1"}`, http.StatusBadRequest, []string{"nodeId"}},
		{"nodeId not uuid", `{"nodeId": "node-1", "externalId": "C-1"}`, http.StatusBadRequest, []string{"nodeId"}},
		{"no unique property", `{"nodeId": "` + testNode + `"}`, http.StatusBadRequest, []string{"externalId"}},
		{"other node", `{"nodeId": "9e9021ae-5332-426d-bb1b-f053440d7b4c", "externalId": "C-1"}`, http.StatusNotFound, nil},
		{"string 256", create(`, "base": {"firstName": "` + rep("è", 256) + `"}`), http.StatusBadRequest, []string{"base.firstName"}},
		{"nested 256", create(`, "base": {"contacts": {"otherContacts": [{"value": "` + rep("v", 256) + `"}]}}`), http.StatusBadRequest, []string{"base.contacts.otherContacts[0].value"}},
		{"consents 256", create(`, "consents": {"disclaimer": {"version": "` + rep("v", 256) + `"}}`), http.StatusBadRequest, []string{"consents.disclaimer.version"}},
		{"externalId 256", `{"nodeId": "` + testNode + `", "externalId": "` + rep("x", 256) + `"}`, http.StatusBadRequest, []string{"externalId"}},
		{"street 501", create(`, "base": {"address": {"street": "` + rep("s", 501) + `"}}`), http.StatusBadRequest, []string{"base.address.street"}},
		{"pictureUrl 1001", create(`, "base": {"pictureUrl": "` + rep("p", 1001) + `"}`), http.StatusBadRequest, []string{"base.pictureUrl"}},
		{"tags sum 1001", create(`, "tags": {"auto": ["` + rep("a", 500) + `", "` + rep("b", 501) + `"]}`), http.StatusBadRequest, []string{"tags.auto"}},
		{"tag not string", create(`, "tags": {"manual": [1]}`), http.StatusBadRequest, []string{"tags.manual[0]"}},
		{"read-only members", create(`, "id": "x", "version": 2`), http.StatusBadRequest, []string{"id", "version"}},
		{"unknown member", create(`, "firstName": "Marco"`), http.StatusBadRequest, []string{"firstName"}},
		{"wrong types", create(`, "base": "Marco", "enabled": "yes", "extra": 1`), http.StatusBadRequest, []string{"base", "enabled", "extra"}},
		{"not an object", `["C-1"]`, http.StatusBadRequest, nil},
		{"over 64 kB", create(`, "extended": {"blob": "` + rep("x", 64<<10) + `"}`), http.StatusRequestEntityTooLarge, nil},
	}
	h := newHarness(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.createCustomer(tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %.300s", a.status, tt.status, a.body)
			}
			if a.status >= 400 {
				e := a.apiError(t)
				var paths []string
				for _, fe := range e.Errors {
					paths = append(paths, fe.Path)
				}
				if !slices.Equal(paths, tt.paths) {
					t.Fatalf("error paths %q, want %q: %s", paths, tt.paths, a.body)
				}
			}
		})
	}
	a := h.do(http.MethodPost, ws("/customers"), []byte(create("")), map[string]string{"Content-Type": "text/plain"})
	if a.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: status %d", a.status)
	}
	// Two valid creates (of one customer) and one 404; every other table
	// case and the 415 were rejected.
	if st := h.srv.CustomersStats(); st.Customers != 1 || st.Created+st.Merged != 2 || st.NotFound != 1 || st.Rejected != int64(len(tests)-3+1) {
		t.Fatalf("stats %+v", st)
	}
}

// Partially modify customer replaces what it sends, keeps the rest, and
// deduplicates arrays without appending them; subscriptions merge by id.
func TestPatchCustomer(t *testing.T) {
	h := newHarness(t, testConfig())
	a := h.createCustomer(`{"nodeId": "` + testNode + `", "externalId": "C-7", "base": {"firstName": "Sara",
		"subscriptions": [{"id": "news", "subscribed": true, "name": "Newsletter"}]}, "tags": {"manual": ["a", "b"]}}`)
	id := customerDoc(t, a)["id"].(string)

	a = h.patchCustomer(id, `{"base": {"lastName": "Greco", "subscriptions": [{"id": "news", "subscribed": false}, {"id": "sms", "subscribed": true}]},
		"tags": {"manual": ["c", "c"]}, "extra": "p1"}`)
	if a.status != http.StatusOK {
		t.Fatalf("patch: status %d: %s", a.status, a.body)
	}
	doc := customerDoc(t, a)
	if lookup(doc, "base.firstName") != "Sara" || lookup(doc, "base.lastName") != "Greco" {
		t.Fatalf("patched base %v", doc["base"])
	}
	if got := toStrings(lookup(doc, "tags.manual")); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("tags.manual = %v: a patch replaces and deduplicates", got)
	}
	subs, _ := lookup(doc, "base.subscriptions").([]any)
	if len(subs) != 2 || subs[0].(map[string]any)["name"] != "Newsletter" || subs[0].(map[string]any)["subscribed"] != false {
		t.Fatalf("subscriptions %v: the missing properties of a subscription are kept", subs)
	}

	for _, tt := range []struct {
		name, id, body string
		status         int
	}{
		{"nodeId is immutable", id, `{"nodeId": "` + testNode + `"}`, http.StatusBadRequest},
		{"street 501", id, `{"base": {"address": {"street": "` + strings.Repeat("s", 501) + `"}}}`, http.StatusBadRequest},
		{"unknown customer", testCustomer, `{"extra": "x"}`, http.StatusNotFound},
	} {
		if a := h.patchCustomer(tt.id, tt.body); a.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, a.status, tt.status, a.body)
		}
	}
	if a := h.do(http.MethodPatch, ws("/customers/"+id+"?mode=LOOSE"), []byte(`{}`), nil); a.status != http.StatusBadRequest {
		t.Errorf("mode LOOSE: status %d", a.status)
	}
	a = h.do(http.MethodPatch, ws("/customers/"+id+"?mode=STRICT"), []byte(`{"base": {"subscriptions": [{"id": "news", "subscribed": true}]}}`), nil)
	if subs, _ := lookup(customerDoc(t, a), "base.subscriptions").([]any); len(subs) != 1 || subs[0].(map[string]any)["name"] != nil {
		t.Fatalf("STRICT patch: subscriptions %v, want only what was sent", subs)
	}
	if calls := h.srv.CustomerCalls(id); len(calls) != 3 || calls[1] != (CustomerCall{"patch", "p1"}) {
		t.Fatalf("calls %+v", calls)
	}
}

// A session value is unique within a node: the same customer gets its
// session again, another customer gets 409.
func TestCustomerSessions(t *testing.T) {
	h := newHarness(t, testConfig())
	alice, bob := created(t, h, "alice"), created(t, h, "bob")
	a := h.createSession(alice, "s-1")
	if a.status != http.StatusCreated {
		t.Fatalf("session: status %d: %s", a.status, a.body)
	}
	var s1, again struct{ ID, Value string }
	_ = json.Unmarshal(a.body, &s1)
	_ = json.Unmarshal(h.createSession(alice, "s-1").body, &again)
	if s1.ID == "" || s1.Value != "s-1" || again != s1 {
		t.Fatalf("session %+v, again %+v", s1, again)
	}
	if a := h.createSession(bob, "s-1"); a.status != http.StatusConflict {
		t.Fatalf("another customer's value: status %d: %s", a.status, a.body)
	}
	for _, tt := range []struct {
		name, id, body string
		status         int
	}{
		{"value 255", bob, `{"value": "` + strings.Repeat("v", 255) + `"}`, http.StatusCreated},
		{"value 256", bob, `{"value": "` + strings.Repeat("v", 256) + `"}`, http.StatusBadRequest},
		{"empty value", bob, `{"value": ""}`, http.StatusBadRequest},
		{"unknown member", bob, `{"value": "s-2", "expires": 1}`, http.StatusBadRequest},
		{"unknown customer", testCustomer, `{"value": "s-3"}`, http.StatusNotFound},
	} {
		if a := h.do(http.MethodPost, ws("/customers/"+tt.id+"/sessions"), []byte(tt.body), nil); a.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, a.status, tt.status, a.body)
		}
	}
	if st := h.srv.CustomersStats(); st.Sessions != 2 || st.Conflicts != 1 || st.NotFound != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Calls that overlap on one customer are counted; calls on different
// customers, or one after the other, are not.
func TestCustomerOverlaps(t *testing.T) {
	h := newHarness(t, testConfig())
	alice, bob := created(t, h, "alice"), created(t, h, "bob")
	h.srv.SetCustomersLatency(100 * time.Millisecond)
	var wg sync.WaitGroup
	for _, id := range []string{alice, bob} {
		wg.Add(1)
		go func() { defer wg.Done(); h.patchCustomer(id, `{"extra": "x"}`) }()
	}
	wg.Wait()
	if st := h.srv.CustomersStats(); st.Overlaps != 0 {
		t.Fatalf("overlaps %d for two customers", st.Overlaps)
	}
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); h.patchCustomer(alice, `{"extra": "y"}`) }()
	}
	wg.Wait()
	if st := h.srv.CustomersStats(); st.Overlaps != 1 {
		t.Fatalf("overlaps %d for two calls at once on one customer, want 1", st.Overlaps)
	}
}

// The customers resource sits behind the workspace checks and the fault
// injector, as Create event does.
func TestCustomersBehindWorkspaceAndFaults(t *testing.T) {
	h := newHarness(t, testConfig())
	body := []byte(`{"nodeId": "` + testNode + `", "externalId": "C-1"}`)
	if a := h.do(http.MethodPost, ws("/customers"), body, map[string]string{"Authorization": "Bearer nope"}); a.status != http.StatusUnauthorized {
		t.Fatalf("bad token: status %d", a.status)
	}
	if a := h.do(http.MethodDelete, ws("/customers/"+testCustomer+"/sessions"), nil, nil); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE sessions: status %d", a.status)
	}
	h.srv.Faults().Set(fault.Settings{ServerErrorShare: 1})
	if a := h.createCustomer(string(body)); a.status != http.StatusServiceUnavailable {
		t.Fatalf("with 5xx faults: status %d", a.status)
	}
	h.srv.Faults().Set(fault.Settings{})
	h.srv.SetMaxRequestsPerMinute(1)
	h.createCustomer(string(body))
	if a := h.createCustomer(string(body)); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("over the throttling: status %d", a.status)
	}
	if st := h.srv.CustomersStats(); st.Created != 1 {
		t.Fatalf("stats %+v", st)
	}
}
