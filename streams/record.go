package streams

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// Record is one Kafka record on its way through a sink pipeline.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
	Time      time.Time
	// Attempts is how many times the sink was asked to deliver this record,
	// counting the attempt in progress.
	Attempts int

	ticket ticket
}

// Header returns the value of the first header named key, or nil.
func (r *Record) Header(key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}
