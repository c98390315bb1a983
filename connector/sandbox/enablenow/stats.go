package enablenow

import (
	"net/http"
	"sync/atomic"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

// Stats are what the stand-in did, for tests and for GET /stats.
type Stats struct {
	// Created counts jobs created, including those whose answer was lost.
	Created int64 `json:"created"`
	// Replayed counts creations answered from a remembered Idempotency-Key.
	Replayed int64 `json:"replayed"`
	// Rejected counts creations refused for their content: 400 (a rule of
	// the reference, a malformed body or key), 413 and 422 (a key reused
	// with another request).
	Rejected int64 `json:"rejected"`
	// Unauthorized counts requests refused for a missing or wrong
	// credential; 401s injected by package fault are in Faults.
	Unauthorized int64 `json:"unauthorized"`
	// Revoked counts requests refused (403) because the credential was
	// revoked (Config.Revoked).
	Revoked int64 `json:"revoked"`
	// Forbidden counts requests refused (403) for a subject the credential
	// may not categorize (Config.ForbiddenSubjects): creations and reads.
	Forbidden int64 `json:"forbidden"`
	// ResetsAfterCreate counts jobs created whose answer was replaced by a
	// connection reset (Config.ResetAfterCreateShare).
	ResetsAfterCreate int64 `json:"resets_after_create"`
	// ByStatus counts the retained jobs by their status now.
	ByStatus map[string]int64 `json:"by_status"`
	// Faults counts the generic faults injected on the API routes.
	Faults fault.Counts `json:"faults"`
}

// counters are updated on the request path without a lock.
type counters struct {
	created           atomic.Int64
	replayed          atomic.Int64
	rejected          atomic.Int64
	unauthorized      atomic.Int64
	revoked           atomic.Int64
	forbidden         atomic.Int64
	resetsAfterCreate atomic.Int64
}

// Stats returns the counters now. ByStatus is computed from the clock, so
// two calls without any request in between may differ.
func (s *Server) Stats() Stats {
	now := s.cfg.Now()
	byStatus := make(map[string]int64)
	for _, j := range s.jobs.retained() {
		byStatus[s.progression.statusAt(j, now)]++
	}
	return Stats{
		Created:           s.stats.created.Load(),
		Replayed:          s.stats.replayed.Load(),
		Rejected:          s.stats.rejected.Load(),
		Unauthorized:      s.stats.unauthorized.Load(),
		Revoked:           s.stats.revoked.Load(),
		Forbidden:         s.stats.forbidden.Load(),
		ResetsAfterCreate: s.stats.resetsAfterCreate.Load(),
		ByStatus:          byStatus,
		Faults:            s.faults.Counts(),
	}
}

// serveStats serves GET /stats.
func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}
