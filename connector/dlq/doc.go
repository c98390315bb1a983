// Package dlq is what an operator does with a sink's dead-letter topic:
// Inspect counts its dead letters by reason, error and time and shows a
// few; Replay re-produces chosen ones to the topics they were read from,
// once each, after the cause (an API outage, say) has gone.
//
// It reads the dead-letter headers streams.DeadLetterWriter writes
// (streams/deadletter.go) and owns nothing of the running pipelines: a
// replayed record is an ordinary record of its source topic, which the
// sink's pipeline consumes again. The replay positions are Kafka consumer
// groups of their own (see Replay), so the usual Kafka tools show and
// move them.
package dlq
