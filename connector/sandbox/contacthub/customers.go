package contacthub

import (
	"encoding/json"
	"mime"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/google/uuid"
)

// The customers resource of the stand-in: Create customer (an upsert under
// the MERGE uniqueness policy, the only one the reference still accepts),
// Partially modify customer, Create customer session, and Get customer,
// for tests and the demo to look at what they made (FindCustomer finds an
// id by externalId). Its requests go through the same workspace
// checks (bearer auth, throttling) and fault injector as Create event.
//
// Uniqueness follows the reference's sample entry node: customers are
// matched by externalId, case-insensitively, so a create must carry one
// ("The request body must contain: node id, the entry node unique
// properties and the mandatory fields"); the node has no mandatory fields.
// Each created or changed customer is appended to the update stream, as
// Contacthub does.
//
// Answers: 201 with the customer for a create, merged or not (the only
// status the reference shows); 200 with the customer for a patch; 201 with
// the session for a session. 400 for a body that breaks a rule, listing
// each in errors[] with its path; 413 over 64 kB; 415 for a body that is
// not JSON; 404 for an unknown customer or entry node. The reference
// documents no 409 for customers: under MERGE a create never conflicts.
// It says a session value "is unique for a single node" without naming an
// answer; the stand-in answers 409 when another customer of the node holds
// the value, and gives the same customer its existing session again (so a
// retried call is harmless).

// customerStores keeps each Server's customers beside it, by the Server's
// address, so the resource needs no field in Server; an entry goes when its
// Server is collected.
var customerStores sync.Map // weak.Pointer[Server] -> *customerStore

func (s *Server) customers() *customerStore {
	k := weak.Make(s)
	if v, ok := customerStores.Load(k); ok {
		return v.(*customerStore)
	}
	v, loaded := customerStores.LoadOrStore(k, newCustomerStore())
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[Server]) { customerStores.Delete(k) }, k)
	}
	return v.(*customerStore)
}

// routeCustomers registers the customers resource on api.
func (s *Server) routeCustomers(api *http.ServeMux) {
	st := s.customers()
	api.Handle("POST /workspaces/{ws}/customers", s.workspace(OpCustomers, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.createCustomer(st, w, r) })))
	api.Handle("GET /workspaces/{ws}/customers/{id}", s.workspace(OpCustomers, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.getCustomer(st, w, r) })))
	api.Handle("PATCH /workspaces/{ws}/customers/{id}", s.workspace(OpCustomers, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.patchCustomer(st, w, r) })))
	api.Handle("POST /workspaces/{ws}/customers/{id}/sessions", s.workspace(OpCustomers, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.createSession(st, w, r) })))
	// The collection gets no method-less pattern: other methods on it fall
	// through to "no such resource", as before the resource existed.
	for _, p := range []string{"/workspaces/{ws}/customers/{id}", "/workspaces/{ws}/customers/{id}/sessions"} {
		api.HandleFunc(p, methodNotAllowed)
	}
}

// maxCallsPerCustomer bounds the calls remembered per customer.
const maxCallsPerCustomer = 256

// CustomerCall is one accepted call on a customer, as the stand-in saw it.
type CustomerCall struct {
	// Op is create (a new customer), merge (a create that matched an
	// existing one), patch or session.
	Op string `json:"op"`
	// Marker is what the body carried in extra (create, merge, patch) or
	// the session value (session): tests tag each call with it to check
	// the order calls arrived in.
	Marker string `json:"marker"`
}

// CustomersStats are what the customers resource has seen.
type CustomersStats struct {
	Customers int64 `json:"customers"` // customers held
	Created   int64 `json:"created"`   // creates that made a customer
	Merged    int64 `json:"merged"`    // creates merged into an existing customer
	Patched   int64 `json:"patched"`
	Sessions  int64 `json:"sessions"`  // sessions created (a repeat of the same one not counted)
	Rejected  int64 `json:"rejected"`  // 400, 413, 415
	NotFound  int64 `json:"not_found"` // 404: unknown customer or entry node
	Conflicts int64 `json:"conflicts"` // 409: a session value another customer holds
	// Overlaps counts calls that arrived while another call on the same
	// customer was being handled: a client that keeps one call per
	// customer in flight causes none.
	Overlaps int64 `json:"overlaps"`
}

type customerStore struct {
	mu       sync.Mutex
	byID     map[string]*storedCustomer
	byUnique map[string]string         // node + "\x00" + lower(externalId) -> id
	sessions map[string]*sessionRecord // node + "\x00" + value -> session
	inFlight map[string]int            // customer -> calls being handled
	calls    map[string][]CustomerCall // customer id -> recent calls
	latency  time.Duration
	stats    CustomersStats
}

type storedCustomer struct {
	id       string
	doc      map[string]any
	version  int
	sessions []*sessionRecord
}

type sessionRecord struct {
	ID       string `json:"id"`
	Value    string `json:"value"`
	customer string
}

func newCustomerStore() *customerStore {
	return &customerStore{
		byID:     make(map[string]*storedCustomer),
		byUnique: make(map[string]string),
		sessions: make(map[string]*sessionRecord),
		inFlight: make(map[string]int),
		calls:    make(map[string][]CustomerCall),
	}
}

// CustomersStats returns what the customers resource has seen.
func (s *Server) CustomersStats() CustomersStats {
	st := s.customers()
	st.mu.Lock()
	defer st.mu.Unlock()
	out := st.stats
	out.Customers = int64(len(st.byID))
	return out
}

// CustomerCalls returns the last accepted calls on customer id (at most
// 256), oldest first.
func (s *Server) CustomerCalls(id string) []CustomerCall {
	st := s.customers()
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]CustomerCall(nil), st.calls[id]...)
}

// FindCustomer returns the id of the customer of node nodeID whose
// externalId is externalID (the entry node's unique property).
func (s *Server) FindCustomer(nodeID, externalID string) (string, bool) {
	st := s.customers()
	st.mu.Lock()
	defer st.mu.Unlock()
	id, ok := st.byUnique[uniqueKey(nodeID, externalID)]
	return id, ok
}

// SetCustomersLatency makes every customer call take d while its customer
// is marked busy, so that calls that overlap on one customer are seen
// (Overlaps) rather than slip through between two instants.
func (s *Server) SetCustomersLatency(d time.Duration) {
	st := s.customers()
	st.mu.Lock()
	st.latency = d
	st.mu.Unlock()
}

func uniqueKey(node, externalID string) string {
	return node + "\x00" + strings.ToLower(externalID)
}

// readCustomerBody reads a JSON object body within the payload limit, or
// answers and returns nil.
func (s *Server) readCustomerBody(st *customerStore, w http.ResponseWriter, r *http.Request) map[string]any {
	reject := func(status int, msg string, errs []fieldError) map[string]any {
		st.count(func(c *CustomersStats) { c.Rejected++ })
		writeError(w, status, msg, errs)
		return nil
	}
	if r.ContentLength > customerPayloadLimit {
		return reject(http.StatusRequestEntityTooLarge, "the customer payload must not exceed 64kB", nil)
	}
	body, tooLarge, err := readLimited(r.Body, r.ContentLength, customerPayloadLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error(), nil)
		return nil
	}
	if tooLarge {
		return reject(http.StatusRequestEntityTooLarge, "the customer payload must not exceed 64kB", nil)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return reject(http.StatusUnsupportedMediaType, "the request body must be application/json", nil)
	}
	doc, err := decodeObject(body)
	if err != nil {
		return reject(http.StatusBadRequest, "malformed request body: "+err.Error(), nil)
	}
	return doc
}

func (st *customerStore) count(f func(*CustomersStats)) {
	st.mu.Lock()
	f(&st.stats)
	st.mu.Unlock()
}

// rejectRules answers 400 with every broken rule, sorted by path.
func (st *customerStore) rejectRules(w http.ResponseWriter, what string, errs []fieldError) {
	st.count(func(c *CustomersStats) { c.Rejected++ })
	sort.Slice(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Path + " " + e.Message
	}
	writeError(w, http.StatusBadRequest, "invalid "+what+": "+strings.Join(msgs, "; "), errs)
}

// enter marks customer busy for one call and holds the call for the
// configured latency; the returned func ends the call.
func (st *customerStore) enter(r *http.Request, customer string) func() {
	st.mu.Lock()
	if st.inFlight[customer] > 0 {
		st.stats.Overlaps++
	}
	st.inFlight[customer]++
	d := st.latency
	st.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	return func() {
		st.mu.Lock()
		if st.inFlight[customer]--; st.inFlight[customer] == 0 {
			delete(st.inFlight, customer)
		}
		st.mu.Unlock()
	}
}

func (st *customerStore) remember(id string, call CustomerCall) {
	calls := append(st.calls[id], call)
	if len(calls) > maxCallsPerCustomer {
		calls = append(calls[:0:0], calls[len(calls)-maxCallsPerCustomer:]...)
	}
	st.calls[id] = calls
}

func (s *Server) createCustomer(st *customerStore, w http.ResponseWriter, r *http.Request) {
	doc := s.readCustomerBody(st, w, r)
	if doc == nil {
		return
	}
	var rules customerRules
	rules.body(doc, true)
	ext, _ := doc["externalId"].(string)
	if ext == "" {
		rules.fail("externalId", "is the entry node's unique property and is required")
	}
	if len(rules.errs) > 0 {
		st.rejectRules(w, "customer", rules.errs)
		return
	}
	node := doc["nodeId"].(string)
	if node != s.cfg.NodeID {
		st.count(func(c *CustomersStats) { c.NotFound++ })
		writeError(w, http.StatusNotFound, "entry node not found: "+node, nil)
		return
	}
	key := uniqueKey(node, ext)
	st.mu.Lock()
	busy := st.byUnique[key]
	st.mu.Unlock()
	if busy == "" {
		busy = "new\x00" + key
	}
	defer st.enter(r, busy)()

	now := s.now()
	st.mu.Lock()
	op := "merge"
	c := st.byID[st.byUnique[key]]
	if c == nil {
		op = "create"
		c = &storedCustomer{id: uuid.NewString(), doc: map[string]any{"registeredAt": timestamp(now)}}
		st.byID[c.id] = c
		st.byUnique[key] = c.id
		st.stats.Created++
	} else {
		st.stats.Merged++
	}
	// "All collection elements are appended to the existing ones and
	// deduplicated."
	mergeCustomer(c.doc, doc, "", true, false)
	out := c.touch(now)
	extra, _ := doc["extra"].(string)
	st.remember(c.id, CustomerCall{Op: op, Marker: extra})
	st.mu.Unlock()
	s.streamCustomer(op == "create", node, out, now)
	writeJSON(w, http.StatusCreated, json.RawMessage(out))
}

func (s *Server) patchCustomer(st *customerStore, w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	doc := s.readCustomerBody(st, w, r)
	if doc == nil {
		return
	}
	if mode := r.URL.Query().Get("mode"); mode != "" && mode != "STRICT" {
		st.rejectRules(w, "query", []fieldError{{Message: "must be STRICT", Path: "mode"}})
		return
	}
	var rules customerRules
	rules.body(doc, false)
	if len(rules.errs) > 0 {
		st.rejectRules(w, "customer", rules.errs)
		return
	}
	defer st.enter(r, id)()
	now := s.now()
	st.mu.Lock()
	c := st.byID[id]
	if c == nil {
		st.stats.NotFound++
		st.mu.Unlock()
		writeError(w, http.StatusNotFound, "customer not found: "+id, nil)
		return
	}
	node, _ := c.doc["nodeId"].(string)
	if v, present := doc["externalId"]; present {
		// externalId is the node's unique property: the index follows it.
		ext, _ := v.(string)
		if other, taken := st.byUnique[uniqueKey(node, ext)]; ext != "" && taken && other != id {
			st.mu.Unlock()
			st.rejectRules(w, "customer", []fieldError{{Message: "is the unique property of another customer of the node", Path: "externalId"}})
			return
		}
		if old, _ := c.doc["externalId"].(string); old != "" {
			delete(st.byUnique, uniqueKey(node, old))
		}
		if ext != "" {
			st.byUnique[uniqueKey(node, ext)] = id
		}
	}
	// Partially modify customer replaces the values it is sent ("All
	// collection elements are deduplicated"), keeping, unless mode is
	// STRICT, the missing properties of each subscription.
	mergeCustomer(c.doc, doc, "", false, r.URL.Query().Get("mode") == "STRICT")
	out := c.touch(now)
	st.stats.Patched++
	extra, _ := doc["extra"].(string)
	st.remember(id, CustomerCall{Op: "patch", Marker: extra})
	st.mu.Unlock()
	s.streamCustomer(false, node, out, now)
	writeJSON(w, http.StatusOK, json.RawMessage(out))
}

func (s *Server) createSession(st *customerStore, w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	doc := s.readCustomerBody(st, w, r)
	if doc == nil {
		return
	}
	var rules customerRules
	value := rules.session(doc)
	if len(rules.errs) > 0 {
		st.rejectRules(w, "session", rules.errs)
		return
	}
	defer st.enter(r, id)()
	status, answer := st.addSession(id, value)
	switch status {
	case http.StatusNotFound:
		writeError(w, status, "customer not found: "+id, nil)
	case http.StatusConflict:
		writeError(w, status, "the session value belongs to another customer of the node", []fieldError{{Message: "is not unique in the node", Path: "value"}})
	default:
		writeJSON(w, status, answer)
	}
}

// addSession gives customer id the session value: a new one, or the one it
// has already.
func (st *customerStore) addSession(id, value string) (int, sessionRecord) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.byID[id]
	if c == nil {
		st.stats.NotFound++
		return http.StatusNotFound, sessionRecord{}
	}
	key := c.doc["nodeId"].(string) + "\x00" + value
	sess := st.sessions[key]
	switch {
	case sess != nil && sess.customer != id:
		st.stats.Conflicts++
		return http.StatusConflict, sessionRecord{}
	case sess == nil:
		sess = &sessionRecord{ID: uuid.NewString(), Value: value, customer: id}
		st.sessions[key] = sess
		c.sessions = append(c.sessions, sess)
		st.stats.Sessions++
	}
	st.remember(id, CustomerCall{Op: "session", Marker: value})
	return http.StatusCreated, *sess
}

func (s *Server) getCustomer(st *customerStore, w http.ResponseWriter, r *http.Request) {
	st.mu.Lock()
	c := st.byID[r.PathValue("id")]
	var out []byte
	if c != nil {
		out = mustJSON(c.doc)
	}
	st.mu.Unlock()
	if c == nil {
		writeError(w, http.StatusNotFound, "customer not found: "+r.PathValue("id"), nil)
		return
	}
	writeJSON(w, http.StatusOK, json.RawMessage(out))
}

// touch stamps a change on the customer and returns its JSON.
func (c *storedCustomer) touch(now time.Time) []byte {
	c.version++
	c.doc["id"] = c.id
	c.doc["version"] = c.version
	c.doc["updatedAt"] = timestamp(now)
	c.doc["deleted"] = -1
	if _, ok := c.doc["enabled"]; !ok {
		c.doc["enabled"] = true
	}
	return mustJSON(c.doc)
}

// streamCustomer appends the change to the update stream.
func (s *Server) streamCustomer(created bool, node string, data []byte, now time.Time) {
	op := operationUpdate
	if created {
		op = operationCreate
	}
	s.log.append([]change{{operation: op, kind: kindCustomer, node: node, millis: now.UnixMilli(), data: data}})
}

// mergeCustomer merges src into dst. Objects merge member by member and
// any other value replaces the old one; arrays are appended to the old one
// (appendArrays, a create's merge) or replace it, deduplicated either way.
// base.subscriptions merge by id, each keeping the properties the request
// leaves out unless strict.
func mergeCustomer(dst, src map[string]any, path string, appendArrays, strict bool) {
	for k, v := range src {
		p := k
		if path != "" {
			p = path + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			old, ok := dst[k].(map[string]any)
			if !ok {
				old = map[string]any{}
				dst[k] = old
			}
			mergeCustomer(old, x, p, appendArrays, strict)
		case []any:
			old, _ := dst[k].([]any)
			switch {
			case p == "base.subscriptions" && !strict:
				dst[k] = mergeByID(old, x)
			case appendArrays:
				dst[k] = dedupe(append(append([]any(nil), old...), x...))
			default:
				dst[k] = dedupe(x)
			}
		default:
			dst[k] = v
		}
	}
}

// mergeByID merges subscriptions by their id: a known one keeps the
// properties the request leaves out, a new one is appended.
func mergeByID(old, add []any) []any {
	out := append([]any(nil), old...)
	for _, a := range add {
		am, ok := a.(map[string]any)
		id, _ := am["id"].(string)
		merged := false
		for _, o := range out {
			if om, isMap := o.(map[string]any); ok && isMap && id != "" && om["id"] == id {
				for k, v := range am {
					om[k] = v
				}
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, a)
		}
	}
	return out
}

// dedupe drops repeated elements; JSON encoding sorts object members, so
// equal values encode equal.
func dedupe(list []any) []any {
	seen := make(map[string]bool, len(list))
	out := list[:0:0]
	for _, v := range list {
		k := string(mustJSON(v))
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}
