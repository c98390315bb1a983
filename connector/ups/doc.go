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
//     a 401, a failed fetch tried again after delivery.Policy's back-off),
//     plus what every UPS sink of the process shares: the Pacer (one token
//     bucket counted in records, per API key, AIMD on 429; see Pacer for how
//     it keeps 429s away at full pace) and the bound on open jobs
//     (MaxOpenJobs: when reached, requests wait, and records wait in the
//     Batcher, bounded by the runtime's max_in_flight).
//   - Batcher: per sink, the records waiting to be sent, packed into requests
//     as full as the record and compressed-size limits allow, with a user's
//     updates coalesced and kept in order.
//   - EnrichmentSink: the streams.Sink; Write admits records to the Batcher
//     and returns at once, and each record's outcome is reported through the
//     runtime's streams.Done when it is known.
//   - RequestSender and JobFollower: the sink's background work, which Start
//     runs through the runtime's streams.Background, and its Parts on
//     /readyz. The sender sends requests and acts on each answer (judge);
//     the follower (a follower of package internal/jobs) follows jobs on
//     the status service, publishes each job's outcome to the results topic
//     (through package internal/results) and re-sends the records of
//     failed jobs.
//
// # When a record is acknowledged
//
// A record's outcome, and so the commit of its offset, is reported only
// when the record's job COMPLETED, when a newer update of the same user
// replaced it, when its job ended UNVERIFIED, or when it was rejected
// (invalid, too large, refused by the API, or its job FAILED
// MaxJobAttempts times). What ends a job is a status word of the configured
// lists (StatusWords): the reference documents FAILED only, so a job with
// no such word by the job timeout is UNVERIFIED: its records are committed
// and never sent again, since only an explicit failure word says the API
// did not apply them. An accepted POST is not
// enough: a crash between the acceptance and the end of a job that then
// FAILS would lose the records. Outcomes therefore come a job's duration
// after Write returned (seconds in production), and the ups sink defaults
// give the runtime enough records in flight to keep the API at its rate. A
// crash repeats at most the records in flight (at-least-once; the API
// replaces a user's data, so a repeat is harmless).
//
// Records whose job FAILS for the last time are rejected through their
// Done (reason "job_failed", the error carrying the job id and the status
// service's messages), and the runtime's DeadLetterWriter writes them
// before their offsets are committed; the sink needs no producer of its own
// for dead letters. Each job's outcome goes to the results topic before its
// records are resolved, so an outcome may be repeated after a crash but
// never lost.
//
// # Stopping
//
// The runtime owns the two-phase stop. Drain makes the Batcher send what it
// holds without waiting for requests to fill; the sender and the follower
// go on, so the outcomes of jobs that end within the runtime's grace are
// taken. Then the runtime cancels the background work's context, and Close
// gives back the places among open jobs that this sink still held; the
// records of those jobs have no outcome, stay uncommitted, and are read
// again after a restart.
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
// user id. The sink is streams.Sequential: the runtime hands a partition's
// fresh records over in offset order, one Write at a time, and at a
// rebalance the member finishes its records before it rejoins, so the
// partition's next owner sends nothing while this one still does. The offset
// comparison alone is not enough, since a user's state is forgotten once
// nothing of it is left: an older record handed over late by a racing
// worker found no state and overwrote the newer value already delivered.
// Every record handed back to the runtime for a retry (5xx,
// network error) is remembered until it comes back (or RetryMemory passed),
// so a newer update sent meanwhile is not overwritten when the old one comes
// back: the old one is then acknowledged as replaced.
//
// It must not: retry 5xx or network failures itself, dead-letter through its
// own producer, or commit anything. Those belong to package streams; this
// package only reports per-record outcomes (see streams.Sink). Its
// long-lived goroutines are started only through the streams.Background
// given to Start.
package ups
