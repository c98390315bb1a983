// Package streams owns the Kafka side of the connector: consuming in a
// consumer group, running records through a Sink with bounded concurrency,
// retrying with back-off, dead-lettering what cannot be delivered, and
// committing offsets only for the contiguous prefix of finished records of
// each partition. It also holds the producer the source uses and the typed
// publish/subscribe helpers for applications.
//
// A Sink (in package connector) only turns records into API calls and says,
// per record, delivered, retry later, or reject with reason: it starts no
// goroutines for delivery and never commits. Everything about goroutines,
// ordering, acknowledgements, retries and commits is decided here.
//
// What the runtime does with a Sink's error:
//   - nil: delivered; the record is acknowledged.
//   - an error that Is ErrRejected: dead-lettered at once with the error as
//     the reason, then acknowledged.
//   - ErrFiltered: acknowledged without delivery and counted as filtered
//     (a mapping gave no output for the record).
//   - an error that Is ErrUnauthorized: the pipeline pauses (Ready reports
//     why) and retries with back-off until the credential works; the record
//     is neither committed nor dead-lettered meanwhile.
//   - any other error: retried with exponential back-off (honouring a
//     RetryAfter hint) until it succeeds, is rejected, or the retry budget
//     (RetryPolicy.MaxElapsed) runs out; then it is dead-lettered.
package streams
