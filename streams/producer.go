package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	Brokers  []string
	Security Security
	// Topic, when set, is used for messages that name none.
	Topic string
	// BatchSize is the most messages in one produce request per partition.
	BatchSize int
	// Linger is how long a partial batch waits for more messages.
	Linger time.Duration
	// Compression: "", "none", "gzip", "snappy", "lz4", "zstd".
	Compression string
	// Acks is "all" (default: the record is on every in-sync replica), "1"
	// (the leader only) or "0" (none; a crash may lose what was "sent").
	Acks string
}

// Producer writes records and returns only after Kafka acknowledged them
// (acks=all), which is what lets callers commit or store offsets afterwards.
// It is safe for concurrent use. Keys are partitioned with murmur2, as the
// Java client does, so records of one key land where Java producers put them.
type Producer struct {
	w     *kafka.Writer
	topic string
}

// NewProducer builds a Producer; it connects lazily.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("producer: brokers: at least one broker is needed")
	}
	codec, err := CompressionCodec(cfg.Compression)
	if err != nil {
		return nil, fmt.Errorf("producer: compression: %w", err)
	}
	acks := kafka.RequireAll
	switch cfg.Acks {
	case "", "all", "-1":
	case "1":
		acks = kafka.RequireOne
	case "0":
		acks = kafka.RequireNone
	default:
		return nil, fmt.Errorf("producer: acks: %q is not all, 1 or 0", cfg.Acks)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Linger == 0 {
		cfg.Linger = 2 * time.Millisecond
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     &kafka.Murmur2Balancer{Consistent: true},
		BatchSize:    cfg.BatchSize,
		BatchBytes:   16 << 20,
		BatchTimeout: cfg.Linger,
		RequiredAcks: acks,
		Compression:  codec,
		MaxAttempts:  5,
		Transport:    cfg.Security.Transport(),
	}
	return &Producer{w: w, topic: cfg.Topic}, nil
}

// CompressionCodec is kafka-go's codec of a compression name: "" or "none"
// (no compression), "gzip", "snappy", "lz4" or "zstd".
func CompressionCodec(name string) (kafka.Compression, error) {
	switch name {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown codec %q", name)
}

// Produce writes msgs and waits for Kafka's acknowledgement of all of them.
// Messages without a Topic get the producer's (the slice is updated in place).
// On error, some messages may have been written (the caller retries the lot;
// consumers see at-least-once).
func (p *Producer) Produce(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		if msgs[i].Topic == "" {
			if p.topic == "" {
				return errors.New("produce: message has no topic and the producer has no default")
			}
			msgs[i].Topic = p.topic
		}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("produce %d records: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the producer. It is safe to call twice.
func (p *Producer) Close() error {
	return p.w.Close()
}
