package dlq

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// routes sends each replayed record to the partition it was read from:
// kafka-go's Writer ignores Message.Partition and asks a Balancer, which
// finds the partition by the record's HeaderReplayedFrom.
type routes struct{ m sync.Map }

func (rt *routes) set(from string, partition int) { rt.m.Store(from, partition) }

func (rt *routes) clear(batch []kafka.Message) {
	for _, m := range batch {
		rt.m.Delete(string(m.Headers[len(m.Headers)-1].Value))
	}
}

// Balance implements kafka.Balancer: the source partition when the topic
// still has it, else the key's murmur2 partition, as the connector's
// producers choose.
func (rt *routes) Balance(msg kafka.Message, partitions ...int) int {
	if n := len(msg.Headers); n > 0 && msg.Headers[n-1].Key == HeaderReplayedFrom {
		if v, ok := rt.m.Load(string(msg.Headers[n-1].Value)); ok && slices.Contains(partitions, v.(int)) {
			return v.(int)
		}
	}
	return (&kafka.Murmur2Balancer{Consistent: true}).Balance(msg, partitions...)
}

// writer produces replayed records with acks=all whatever kafka.acks
// says: a position is committed only after its records are on every
// in-sync replica.
func (t Topic) writer(route *routes) (*kafka.Writer, error) {
	codec, err := streams.CompressionCodec(t.Compression)
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: compression: %w", t.Name, err)
	}
	return &kafka.Writer{
		Addr: kafka.TCP(t.Brokers...), Balancer: route, Transport: t.Security.Transport(),
		RequiredAcks: kafka.RequireAll, Compression: codec, MaxAttempts: 5,
		BatchSize: 500, BatchBytes: 16 << 20, BatchTimeout: time.Millisecond,
	}, nil
}
