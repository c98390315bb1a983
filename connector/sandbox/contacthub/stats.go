package contacthub

import (
	"crypto/sha256"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

// Stats is what the stand-in has seen; tests assert on it to prove delivery
// (every record accepted, none twice) without trusting the connector's own
// counters.
type Stats struct {
	Accepted     int64 `json:"accepted"`     // events accepted (202)
	Rejected     int64 `json:"rejected"`     // events refused as invalid: 400, 413, 415
	Throttled    int64 `json:"throttled"`    // 429s from workspace throttling, not injected ones
	Unauthorized int64 `json:"unauthorized"` // 401s for a bad token, not injected ones
	// Forbidden counts 403s: an operation the token may not use
	// (Config.Forbidden), or an event naming an aggregate node.
	Forbidden int64 `json:"forbidden"`
	// PerCustomer counts accepted events by customerId, or by the
	// bringBackProperties value for events that name no customer.
	PerCustomer map[string]int64 `json:"per_customer"`
	// DuplicateBodies counts the extra copies of accepted bodies: a body
	// accepted three times adds 2. At-least-once delivery shows up here.
	DuplicateBodies int64 `json:"duplicate_bodies"`
	DistinctBodies  int64 `json:"distinct_bodies"`
	LastOffset      int64 `json:"last_offset"`
	// UpdatesServed counts updates returned by the update stream.
	UpdatesServed int64        `json:"updates_served"`
	Faults        fault.Counts `json:"faults"`
}

// stats holds the live counters. The plain counts are atomics because every
// request touches one; the maps sit behind one mutex taken once per accepted
// event, cheap at the rates the sandbox serves.
type stats struct {
	accepted      atomic.Int64
	rejected      atomic.Int64
	throttled     atomic.Int64
	unauthorized  atomic.Int64
	forbidden     atomic.Int64
	updatesServed atomic.Int64

	mu          sync.Mutex
	perCustomer map[string]int64
	// bodies is keyed by the sha256 of the raw body: byte-identical bodies
	// are what a retried or replayed record looks like on the wire.
	bodies     map[[sha256.Size]byte]int64
	duplicates int64
}

func (st *stats) init() {
	st.perCustomer = make(map[string]int64)
	st.bodies = make(map[[sha256.Size]byte]int64)
}

func (st *stats) recordAccepted(customer string, body []byte) {
	sum := sha256.Sum256(body)
	st.accepted.Add(1)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.perCustomer[customer]++
	n := st.bodies[sum] + 1
	st.bodies[sum] = n
	if n > 1 {
		st.duplicates++
	}
}

// Stats returns a snapshot; the map is a copy the caller may keep.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		Accepted:      st.accepted.Load(),
		Rejected:      st.rejected.Load(),
		Throttled:     st.throttled.Load(),
		Unauthorized:  st.unauthorized.Load(),
		Forbidden:     st.forbidden.Load(),
		LastOffset:    s.LastOffset(),
		UpdatesServed: st.updatesServed.Load(),
		Faults:        s.faults.Counts(),
	}
	st.mu.Lock()
	out.PerCustomer = maps.Clone(st.perCustomer)
	out.DuplicateBodies = st.duplicates
	out.DistinctBodies = int64(len(st.bodies))
	st.mu.Unlock()
	return out
}

// AcceptedCount says how many times exactly this request body was accepted.
func (s *Server) AcceptedCount(body []byte) int {
	sum := sha256.Sum256(body)
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return int(s.stats.bodies[sum])
}
