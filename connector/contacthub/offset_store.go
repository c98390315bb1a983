package contacthub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// ErrForeignOffset is returned by OffsetStore.Load when the record stored
// under the source's name belongs to another workspace: the source was
// pointed elsewhere without being renamed. Resuming would skip or repeat
// updates, and retrying cannot help, so the source stops with it. Delete the
// record (produce a tombstone for the key) or rename the source.
var ErrForeignOffset = errors.New("stored offset belongs to another workspace")

// OffsetStore keeps a source's last published Contacthub offset in a
// compacted Kafka topic, keyed by the source's name, as Kafka Connect keeps
// source offsets: Kafka is the one dependency, and every replica sees what
// the last leader stored. A tombstone for the key resets the source to its
// configured start.
type OffsetStore struct {
	brokers   []string
	security  streams.Security
	topic     string
	key       []byte
	workspace string
	producer  *streams.Producer
}

// storedOffset is the value of an offsets record. Only offset is required,
// so an operator can move a source by producing {"offset": N} by hand.
type storedOffset struct {
	Offset    int64     `json:"offset"`
	Workspace string    `json:"workspaceId,omitempty"`
	StoredAt  time.Time `json:"storedAt"`
}

// NewOffsetStore builds the store of source in topic on a plaintext
// cluster; it connects lazily.
func NewOffsetStore(brokers []string, topic, source, workspace string) (*OffsetStore, error) {
	return NewSecureOffsetStore(brokers, streams.Security{}, topic, source, workspace)
}

// NewSecureOffsetStore is NewOffsetStore over connections with sec (TLS,
// SASL).
func NewSecureOffsetStore(brokers []string, sec streams.Security, topic, source, workspace string) (*OffsetStore, error) {
	// One record per page: it must leave at once, not wait for a batch.
	p, err := streams.NewProducer(streams.ProducerConfig{Brokers: brokers, Security: sec, Topic: topic, BatchSize: 1})
	if err != nil {
		return nil, fmt.Errorf("offset store %s: %w", topic, err)
	}
	return &OffsetStore{brokers: brokers, security: sec, topic: topic, key: []byte(source), workspace: workspace, producer: p}, nil
}

// Store records offset as the source's position and returns once Kafka
// acknowledged it. Callers store an offset only after every record up to it
// was acknowledged.
func (s *OffsetStore) Store(ctx context.Context, offset int64) error {
	v, _ := json.Marshal(storedOffset{Offset: offset, Workspace: s.workspace, StoredAt: time.Now().UTC()})
	if err := s.producer.Produce(ctx, kafka.Message{Key: s.key, Value: v}); err != nil {
		return fmt.Errorf("offset store %s: store %s=%d: %w", s.topic, s.key, offset, err)
	}
	return nil
}

// Load reads the topic to its end and returns the last offset stored for the
// source; ok is false when there is none (or it was reset by a tombstone).
// Every partition is read, so a record is found even if the topic was
// repartitioned; the latest record wins.
func (s *OffsetStore) Load(ctx context.Context) (offset int64, ok bool, err error) {
	ends, err := s.partitionBounds(ctx)
	if err != nil {
		return 0, false, err
	}
	var latest *kafka.Message
	for p, b := range ends {
		m, err := s.lastRecordOfKey(ctx, p, b)
		if err != nil {
			return 0, false, err
		}
		if m != nil && (latest == nil || m.Time.After(latest.Time)) {
			latest = m
		}
	}
	if latest == nil || latest.Value == nil {
		return 0, false, nil
	}
	var so storedOffset
	if err := json.Unmarshal(latest.Value, &so); err != nil {
		return 0, false, fmt.Errorf("offset store %s: record %s at %d/%d: %w", s.topic, s.key, latest.Partition, latest.Offset, err)
	}
	if so.Workspace != "" && so.Workspace != s.workspace {
		return 0, false, fmt.Errorf("offset store %s: record %s at %d/%d is for workspace %s, the source reads %s: %w",
			s.topic, s.key, latest.Partition, latest.Offset, so.Workspace, s.workspace, ErrForeignOffset)
	}
	return so.Offset, true, nil
}

type bounds struct{ first, end int64 }

// partitionBounds lists the first and end offsets of every partition; a
// topic that does not exist yet holds nothing.
func (s *OffsetStore) partitionBounds(ctx context.Context) (map[int]bounds, error) {
	cl := &kafka.Client{Addr: kafka.TCP(s.brokers...), Timeout: 10 * time.Second, Transport: s.security.Transport()}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.topic}})
	if err != nil {
		return nil, fmt.Errorf("offset store %s: metadata: %w", s.topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, t := range md.Topics {
		if t.Name != s.topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil, nil
		}
		if t.Error != nil {
			return nil, fmt.Errorf("offset store %s: metadata: %w", s.topic, t.Error)
		}
		for _, p := range t.Partitions {
			reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{s.topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offset store %s: list offsets: %w", s.topic, err)
	}
	out := map[int]bounds{}
	for _, po := range resp.Topics[s.topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offset store %s/%d: list offsets: %w", s.topic, po.Partition, po.Error)
		}
		out[po.Partition] = bounds{first: po.FirstOffset, end: po.LastOffset}
	}
	return out, nil
}

// lastRecordOfKey reads partition p from b.first to b.end and returns the
// last record of the store's key, or nil.
func (s *OffsetStore) lastRecordOfKey(ctx context.Context, p int, b bounds) (*kafka.Message, error) {
	if b.end <= b.first {
		return nil, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Dialer: s.security.Dialer(), Topic: s.topic, Partition: p, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(b.first); err != nil {
		return nil, fmt.Errorf("offset store %s/%d: %w", s.topic, p, err)
	}
	var last *kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("offset store %s/%d: read at %d of %d: %w", s.topic, p, r.Offset(), b.end, err)
		}
		if string(m.Key) == string(s.key) {
			last = &m
		}
		// Compaction leaves gaps, never the last record: stop there.
		if m.Offset >= b.end-1 {
			return last, nil
		}
	}
}

// Close closes the store's producer. It is safe to call twice.
func (s *OffsetStore) Close() error { return s.producer.Close() }
