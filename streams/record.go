package streams

import (
	"time"
)

// Header is one Kafka record header. It is the runtime's own type, so
// sinks do not depend on the Kafka client the runtime uses.
type Header struct {
	Key   string
	Value []byte
}

// Record is one Kafka record on its way through a sink pipeline.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
	// Attempts is how many times the sink was asked to deliver this record,
	// counting the attempt in progress.
	Attempts int

	ticket ticket
	// failures counts the retryable failures in a row; retrySince is when
	// the first of them happened (the retry budget is real time from it).
	failures   int
	retrySince time.Time
	// sentAt is when the attempt in progress was handed to the sink, on
	// the pipeline's clock (pipeline.clock).
	sentAt time.Duration
}

// Header returns the value of the first header named key, or nil.
func (r *Record) Header(key string) []byte { return headerValue(r.Headers, key) }

// headerValue is the value of the first of hs named key, or nil.
func headerValue(hs []Header, key string) []byte {
	for _, h := range hs {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}
