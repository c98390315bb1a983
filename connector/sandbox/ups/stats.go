package ups

import (
	"net/http"
	"sync/atomic"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

// Stats is what the stand-in saw, for tests and benchmarks to assert on
// (Server.Stats, GET /stats).
type Stats struct {
	// Requests counts the enrichment requests (POST and PUT of a collection)
	// that got past the faults; the next fields split them by answer, except
	// 404, 405 and 415, which only a broken client gets.
	Requests        int64 `json:"requests"`
	Accepted        int64 `json:"accepted"`
	Rejected400     int64 `json:"rejected_400"`
	TooLarge413     int64 `json:"too_large_413"`
	Throttled429    int64 `json:"throttled_429"`
	Unauthorized401 int64 `json:"unauthorized_401"` // enrichment and status requests
	// RecordsAccepted counts the records of accepted requests, whether or
	// not their job completes.
	RecordsAccepted int64 `json:"records_accepted"`
	// TokensIssued and TokensRefused count the answers of both token
	// endpoints, so a test can tell a client that reuses its token from one
	// that asks for a token per request.
	TokensIssued  int64 `json:"tokens_issued"`
	TokensRefused int64 `json:"tokens_refused"`
	// Jobs counts the accepted jobs and JobsFailed those that ended FAILED.
	Jobs       int64 `json:"jobs"`
	JobsFailed int64 `json:"jobs_failed"`
	// PerCollection holds, by collection name, what completed jobs applied.
	PerCollection map[string]CollectionStats `json:"per_collection"`
	// MeanFillRecords is the mean number of records per accepted request and
	// MeanBodyBytes their mean body size as sent (compressed): how well a
	// client fills the 1000-record and 50 KB limits.
	MeanFillRecords float64      `json:"mean_fill_records"`
	MeanBodyBytes   float64      `json:"mean_body_bytes"`
	Faults          fault.Counts `json:"faults"`
}

// CollectionStats is what completed jobs applied to one collection.
type CollectionStats struct {
	// Users counts the distinct users holding a value.
	Users int64 `json:"users"`
	// Updates counts the records applied, a user's repeated ones included.
	Updates int64 `json:"updates"`
}

// counters are the live counts behind Stats; atomics, because every
// request touches them and a lock would serialise the hot path.
type counters struct {
	requests, accepted                     atomic.Int64
	rejected400, tooLarge413, throttled429 atomic.Int64
	unauthorized                           atomic.Int64
	recordsAccepted, bodyBytesAccepted     atomic.Int64
	tokensIssued, tokensRefused            atomic.Int64
}

// countAccepted counts an accepted enrichment request.
func (c *counters) countAccepted(records, bodyBytes int) {
	c.accepted.Add(1)
	c.recordsAccepted.Add(int64(records))
	c.bodyBytesAccepted.Add(int64(bodyBytes))
}

// refused counts an enrichment request answered with status.
func (c *counters) refused(status int) {
	switch status {
	case http.StatusBadRequest:
		c.rejected400.Add(1)
	case http.StatusRequestEntityTooLarge:
		c.tooLarge413.Add(1)
	case http.StatusTooManyRequests:
		c.throttled429.Add(1)
	}
}

// Stats returns the counts so far, after ending the jobs that are due.
func (s *Server) Stats() Stats {
	jobs, failed := s.jobs.counts(s.now())
	st := Stats{
		Requests:        s.stats.requests.Load(),
		Accepted:        s.stats.accepted.Load(),
		Rejected400:     s.stats.rejected400.Load(),
		TooLarge413:     s.stats.tooLarge413.Load(),
		Throttled429:    s.stats.throttled429.Load(),
		Unauthorized401: s.stats.unauthorized.Load(),
		RecordsAccepted: s.stats.recordsAccepted.Load(),
		TokensIssued:    s.stats.tokensIssued.Load(),
		TokensRefused:   s.stats.tokensRefused.Load(),
		Jobs:            jobs,
		JobsFailed:      failed,
		PerCollection:   s.store.collectionStats(),
		Faults:          s.faults.Counts(),
	}
	if st.Accepted > 0 {
		st.MeanFillRecords = float64(st.RecordsAccepted) / float64(st.Accepted)
		st.MeanBodyBytes = float64(s.stats.bodyBytesAccepted.Load()) / float64(st.Accepted)
	}
	return st
}
