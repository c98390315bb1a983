// Package ups is the Algonomy UPS Enrichment side of the connector: it turns
// profile updates read from Kafka into enrichment requests for the four
// collections (rr-userattributes, rr-segments, userlinking,
// rr-userpreferences), follows every job the API creates until it ends, and
// says per record what became of it.
//
// It owns:
//   - Client: the HTTP calls (enrichment POST, job status GET) over the
//     shared httpapi client, each service with its own TokenSource
//     (client-credentials grant, cached, refreshed before expiry and once on
//     a 401), plus what every UPS sink of the process shares: the Pacer (one
//     token bucket counted in records, per API key, AIMD on 429; see Pacer
//     for how it keeps 429s away at full pace) and the bound on open jobs
//     (MaxOpenJobs: when reached, requests wait, and so do Write calls).
//   - Batcher: per sink, the records waiting to be sent, packed into requests
//     as full as the record and compressed-size limits allow, with a user's
//     updates coalesced and kept in order.
//   - EnrichmentSink: the streams.Sink; Write admits records to the Batcher
//     and returns when every one of them has an outcome.
//   - RequestSender and JobFollower: the two background units of a sink, one
//     sending requests, the other following jobs on the status service,
//     publishing each job's outcome to the results topic and re-sending the
//     records of FAILED jobs.
//
// # When a record is acknowledged
//
// Write returns, and so lets the runtime commit a record's offset, only when
// the record's job COMPLETED, when a newer update of the same user replaced
// it, or when it was rejected (invalid, too large, refused by the API, or
// its job FAILED MaxJobAttempts times). An accepted POST is not enough: a
// crash between the acceptance and the end of a job that then FAILS would
// lose the records. Write calls therefore last as long as a job (seconds in
// production), and the ups sink defaults give the runtime enough
// concurrency and records in flight to keep the API at its rate. A crash
// repeats at most the records in flight (at-least-once; the API replaces a
// user's data, so a repeat is harmless).
//
// Because the records are still held by their Write when their job FAILS
// for the last time, they are rejected through Write (reason "job_failed",
// the error carrying the job id and the status service's messages) and the
// runtime's DeadLetterWriter writes them before their offsets are
// committed; the sink needs no producer of its own for dead letters. Each
// job's outcome goes to the results topic before its records are resolved,
// so an outcome may be repeated after a crash but never lost.
//
// # Ordering
//
// A user's updates of one collection reach the API in the order they were
// produced: at most one record per (collection, user) is in flight, from the
// request that carries it until its job ends. A newer update that arrives
// meanwhile waits, and replaces any update of the user still waiting
// (coalescing: the API replaces a user's data, so only the latest matters).
// "Newer" is decided by the Kafka offset when both records come from one
// partition, and by arrival otherwise, so upstream topics must be keyed by
// user id. A record handed back to the runtime for a retry (5xx, network
// error) is remembered, so a newer update sent meanwhile is not overwritten
// when the old one comes back: the old one is then acknowledged as replaced.
//
// It must not: retry 5xx or network failures itself, dead-letter through its
// own producer, or commit anything. Those belong to package streams; this
// package only returns per-record outcomes (see streams.Sink). It starts
// goroutines only inside the Run of its units.
package ups
