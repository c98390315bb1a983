// Package ups is the sandbox's stand-in for Algonomy's User Profile
// Enrichment Service (UPS): the part of it the connector uses, served over
// real HTTP so that integration tests and benchmarks exercise the same client
// code as production.
//
// It owns, for one apiKey:
//   - the two token endpoints (POST /attributes/api/v1/oauth2/token and
//     POST /common-status/v1/oauth2/token), client credentials taken from form
//     fields (the reference's curl example), query parameters (its prose) or
//     HTTP Basic, or from one style only (Config.TokenStyle); the tokens of
//     the two services are not interchangeable, expire after Config.TokenTTL
//     and can all be revoked at once with Server.ExpireTokens;
//   - the enrichment endpoints (POST and PUT /attributes/api/v1/{apiKey}/{collection}
//     for the four collections), enforced as strictly as the reference
//     describes them: gzip bodies, the payload limits, every record valid
//     (by the JSON Schemas of the collections, through a JSON Schema
//     library: rules.go) or nothing accepted, and the records-per-second
//     throttling;
//   - the job status service (GET /common-status/v1/{apiKey}/job/{jobId}/events),
//     answered in the shape of the reference's "Failed Status" example, with
//     FAILED for a failed job as the reference shows, and words of the
//     Config's for the states it does not show (RUNNING and COMPLETED by
//     default);
//   - the bookkeeping tests assert on (GET /stats, Server.Stats, Server.Stored)
//     and the run-time fault settings (GET|PUT /faults).
//
// Choices the reference leaves open, made here so a client can rely on them:
//   - A body without Content-Encoding, or that does not decompress as gzip, is
//     400 (the payload is malformed); a Content-Encoding other than gzip is 415
//     (the payload may be fine, its encoding is not supported).
//   - The payload limit is measured on the body as sent (compressed), which is
//     what the gateway sees. A decompressed body above 64 MiB is 413 too, so a
//     gzip bomb cannot exhaust memory.
//   - Checks run in this order, each answering before the next: token (401),
//     apiKey and collection (404), encoding (400/415), size (413), payload
//     shape and record count (400), throttling (429, before the records are
//     read, as a gateway would), every record (400, listing each bad one).
//     A refused request stores nothing, creates no job and spends none of
//     the throttling budget.
//   - Throttling is a token bucket counted in records, shared by the four
//     collections; a request larger than the whole bucket is let through when
//     the bucket is full and leaves it in debt, so it is slowed, not refused
//     for ever.
//   - Accepted records are applied only when their job COMPLETES (a FAILED
//     job applies nothing), and in the order the jobs were accepted (their
//     version), so a connector that re-sends failed jobs can be checked
//     through Server.Stored. Versions are epoch milliseconds, made strictly
//     increasing so that each job has its own.
//   - Without showAll=true the status service leaves out INFO events; with
//     rows=N and more events than N, it pages them, newest first.
//
// Jobs are advanced lazily: whoever reads the stand-in (a request, Stats,
// Stored) first ends every job whose time has come, in acceptance order. So
// New starts no goroutines and nothing needs closing, and a test that replaces
// the clock moves jobs, tokens and the throttling budget without sleeping.
//
// It must not hold connector logic (no retries, no batching, no knowledge of
// Kafka) and must not call the connector's decoders: it is a witness of the
// reference, so a rule the connector misreads is refused here rather than
// agreed with (a test checks it calls no schemas.Decode function). Faults come from package fault and wrap only the API routes,
// never /stats or /faults, so a test can always observe and repair the
// sandbox; the 401 window of the faults spares the token endpoints, because a
// client that cannot get a token cannot show how it recovers from a rejected
// one.
package ups
