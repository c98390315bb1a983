package streams_test

import (
	"testing"

	"github.com/contactlab/connector/streams/streamstest"
)

// A member of a Sequential sink's group that loses partitions in a
// rebalance finishes the records it fetched before it joins again, and the
// group's next generation waits for that join (on real Kafka:
// connector/service's TestSequentialSinkFinishesItsGenerationOnKafka).
func TestSequentialSinkFinishesItsGenerationBeforeRejoining(t *testing.T) {
	addr := streamstest.Broker(t, 2, "in", "dlq")
	streamstest.CheckFinishBeforeRejoin(t, []string{addr}, "in", "dlq", "ordered")
}
