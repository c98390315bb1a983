// Package enablenow is the sandbox's stand-in for the EnableNow Categorization
// API: the part the connector uses, served over real HTTP so that integration
// tests exercise the same client code as production.
//
// It owns:
//   - job creation (POST /v2/categorization-jobs): credential check, the
//     request rules of the reference as this package reads them (rules.go:
//     e1's rules for e1, any other engine taken with its own fields unless
//     Config.Engines says otherwise), and Idempotency-Key handling, so a
//     retried request never creates a second job while its key is
//     remembered;
//   - job monitoring (GET /v2/categorization-jobs/{id}), which the reference
//     does not show; the status of a job is derived from the clock on every
//     read, so no goroutine or timer exists per job;
//   - what the credential may do (permissions.go): a revoked credential is
//     answered 403 on every API request, and a subject the credential may
//     not categorize (Config.ForbiddenSubjects) 403 on the creation and the
//     reads of its jobs alone, so that a client can be tested on telling a
//     refused credential from a refused record;
//   - the bookkeeping tests assert on (GET /stats, Server.Stats, Server.Jobs,
//     Server.JobsFor) and the run-time fault settings (GET|PUT /faults and
//     GET|PUT /faults/after-create).
//
// The reference shows no answer to a creation and no status word. By
// default a new job is answered with 201 Created and a Location header: the
// job is a resource that can be read at once, even though its work is
// asynchronous; Config.CreateAnswer can make the answer name no job at all,
// and the status words (Config.StatusSteps, FailedStatus, OmitStatus) are
// settings, so a client can be tested against readings it does not expect.
// A replay of a remembered Idempotency-Key is answered 200 with
// "Idempotent-Replayed: true"; the same key with a different request is 422.
//
// The "reset after create" fault exists for testing at-least-once delivery:
// it creates the job and then resets the TCP connection without answering,
// which is the one failure where a client cannot know whether its request
// took effect. The generic faults of package fault all happen before the
// request is handled, so they can never produce it.
//
// Paths are relative to the EnableNow base URL; the caller mounts Handler
// wherever the real base path would be.
//
// It must not hold connector logic (no retries, no knowledge of Kafka) and
// must not use the connector's decoders (package schemas): it is a witness
// of the reference, so a rule the connector misreads is refused here rather
// than agreed with (a test checks the import).
// Faults wrap only the API routes, never /stats or /faults, so a test can
// always observe and repair the sandbox. New starts no goroutines.
package enablenow
