// Package contacthub is the sandbox's stand-in for the Contacthub API: the
// part of it the connector uses, served over real HTTP so that integration
// tests and `make run` exercise the same client code as production.
//
// It owns, for one workspace:
//   - event creation (POST /workspaces/{ws}/events), enforced as strictly as
//     the reference describes it: bearer auth, the 64kB payload limit, the
//     request's rules (reference/create-event.schema.json), no
//     bringBackProperties on an aggregate node, and workspace throttling;
//   - the throttling configuration (GET|PUT /workspaces/{ws}/configuration/throttling);
//   - the update stream (GET /workspaces/{ws}/updates and .../updates/last-offset),
//     served from a bounded in-memory log of customer and event changes that a
//     generator fills at a configured rate or on demand, in the reference's
//     shape (no per-update offset unless Config.UpdateOffsets);
//   - the bookkeeping tests assert on (GET /stats, Server.Stats, Server.AcceptedCount)
//     and the run-time fault settings (GET|PUT /faults).
//
// Paths are relative to the Contacthub base URL; the caller mounts Handler
// wherever the real base path would be (for example under /hub/v1).
//
// It is an independent witness: it judges requests by its own reading of
// the reference, never by the connector's package schemas, so that a rule
// the connector misread is refused here instead of agreed with. Where the
// reference is silent it reads strictly, and Config says which reading it
// takes (payload limit, aggregate nodes, permissions, page size). It must
// not hold connector logic (no retries, no batching, no knowledge of
// Kafka). Faults come from package fault and wrap only the workspace API,
// never /stats or /faults, so a test can always observe and repair the
// sandbox. New starts no goroutines; the background generator runs only
// inside Run, owned by the caller.
package contacthub
