// Package enablenow is the EnableNow side of the connector: the API client
// (Client: create a categorization job, read a job's status), the
// CategorizationSink that turns each request record into one job, and the
// JobMonitor that follows created jobs until they end and publishes each
// change of status.
//
// What it owns:
//   - the request rules, applied before any call: a record that breaks one
//     (schemas.DecodeCategorizationRequest: the e1 rules for e1; another
//     engine's request is forwarded as it came) is rejected with
//     streams.Reject("invalid", err), whose message names every broken rule;
//   - the idempotency key (IdempotencyKey): derived from the record's
//     coordinates and content, so a redelivered or retried record reuses it
//     and the API answers with the job the first attempt created;
//   - what a record's attempts in this process have done (attempts.go):
//     after any 2xx it is never POSTed again, and no attempt POSTs it once
//     idempotency_window has passed since its first attempt, paused time
//     included (it is dead-lettered with reason idempotency_window);
//   - which 403 is the record's (credential.go): after a 403, a cheap read
//     the credential may make (package internal/credprobe, one probe out
//     at a time, shared by a burst); when it works before the request is
//     asked once more and after it is refused again, the creation is
//     rejected and the job no longer followed, else the 403 stays a
//     refused credential and pauses. That second asking is no retry: it
//     is how a 403 is told apart, and the runtime retries the rest;
//   - the results topic's message (JobResult), one per creation and, with
//     monitoring on, one per observed change of status, with the outcome
//     the configured status words give (completed, failed), or created for
//     a creation answer that names no job.
//
// What it must not do: retry, dead-letter, pause or commit. The sink says per
// record delivered, retry or reject, and the runtime (package streams) does
// the rest; which HTTP answer is retryable is decided by package httpapi
// alone. How jobs are followed (places, schedule, back-off, pause) is package
// internal/jobs'; how results are produced is internal/results'. The sink
// starts no goroutines of its own: the JobMonitor's live inside the
// function that Start hands to the runtime's Background.
//
// The request decoder is fuzzed in package schemas
// (FuzzDecodeCategorizationRequest); the answer decoder of this package by
// FuzzDecodeJobAnswer.
package enablenow
