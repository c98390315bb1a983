// Package jobs follows the asynchronous jobs of an API until they end: the
// EnableNow job monitor and the UPS job follower are both a Follower with a
// status read and a handler of their own.
//
// What it owns, so that no API package writes it again:
//   - the places: at most MaxJobs jobs are followed at once (or Places shared
//     by the Followers of one API key), and a place is reserved before the
//     job is created (Reserve, then Follow or Release), so the cap holds the
//     input back instead of growing a queue;
//   - when each job is read next (package due), with early first reads when
//     asked, and at most Readers status reads in flight;
//   - per-job back-off, by delivery.Policy, when a read or its handling
//     fails, waiting at least the server's Retry-After;
//   - the pause: a read refused for its credential (delivery.ErrUnauthorized,
//     and not delivery.ErrRejected, which marks a refusal that is the job's
//     own) holds every read back, Ready says why, and one probe per back-off
//     step finds out when the credential works again; the jobs are not
//     penalised for it;
//   - the timeout of each job, which the handler sees as Read.TimedOut
//     within two intervals of it whatever the reads do (paused, backing
//     off, hanging: then without a read, Read.Err being ErrNotRead), so a
//     job whose status is never decided holds no place long past it;
//   - the order of the end: the place is given back, then Config.Ended
//     acts, and Abandon gives back the places of the jobs a stop left open.
//
// What it leaves to the API package: how a status is read, and what a read
// means (Config.Handle): whether the status changed, whether the job ended,
// what to publish, what a failure or a timeout becomes.
//
// It starts no long-lived goroutine outside Run, which the sink starts
// through streams.Background.Go (a job's timeout timer only queues the job
// for Run). A Follower has a Run method, so it must not be
// handed to the service as a unit (the service would run it a second time):
// the API package exposes a part with Name and Ready only.
package jobs
