package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams"
)

// Topic is a sink's dead-letter topic and how to reach it.
type Topic struct {
	// Name is the dead-letter topic.
	Name string
	// Sink is the sink whose dead letters it holds; it names the replay
	// positions (ReplayGroup).
	Sink     string
	Brokers  []string
	Security streams.Security
	// Compression of the records Replay produces: "", none, gzip, snappy,
	// lz4, zstd.
	Compression string
}

// TopicOf is the dead-letter topic of the sink named sink in cfg, with
// the brokers and the security of cfg's kafka section.
func TopicOf(cfg *config.Config, sink string, log *slog.Logger) (Topic, error) {
	i := slices.IndexFunc(cfg.Sinks, func(s config.Sink) bool { return s.Name == sink })
	if i < 0 {
		names := make([]string, len(cfg.Sinks))
		for j, s := range cfg.Sinks {
			names[j] = s.Name
		}
		return Topic{}, fmt.Errorf("no sink named %q in the config (sinks: %v)", sink, names)
	}
	sec, err := service.KafkaSecurity(cfg.Kafka, log)
	if err != nil {
		return Topic{}, err
	}
	return Topic{
		Name: cfg.Sinks[i].DeadLetterTopic, Sink: sink,
		Brokers: cfg.Kafka.Brokers, Security: sec, Compression: cfg.Kafka.Compression,
	}, nil
}

// extent is the range of offsets each partition of the topic holds at one
// instant: what Inspect and Replay read, so that dead letters written
// while they run wait for the next run.
type extent struct {
	partitions []int
	start, end map[int]int64
}

// total is how many records the extent spans.
func (e extent) total() int64 {
	var n int64
	for _, p := range e.partitions {
		n += e.end[p] - e.start[p]
	}
	return n
}

func (t Topic) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(t.Brokers...), Timeout: 10 * time.Second, Transport: t.Security.Transport()}
}

// extent asks the brokers for the topic's partitions and their first and
// end offsets now.
func (t Topic) extent(ctx context.Context) (extent, error) {
	cl := t.client()
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{t.Name}})
	if err != nil {
		return extent{}, fmt.Errorf("dead-letter topic %s: metadata: %w", t.Name, err)
	}
	if len(meta.Topics) != 1 {
		return extent{}, fmt.Errorf("dead-letter topic %s: not in the brokers' metadata", t.Name)
	}
	if err := meta.Topics[0].Error; err != nil {
		return extent{}, fmt.Errorf("dead-letter topic %s: %w", t.Name, err)
	}
	e := extent{start: map[int]int64{}, end: map[int]int64{}}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		e.partitions = append(e.partitions, p.ID)
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	slices.Sort(e.partitions)
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{t.Name: reqs}})
	if err != nil {
		return extent{}, fmt.Errorf("dead-letter topic %s: offsets: %w", t.Name, err)
	}
	for _, po := range offs.Topics[t.Name] {
		if po.Error != nil {
			return extent{}, fmt.Errorf("dead-letter topic %s/%d: offsets: %w", t.Name, po.Partition, po.Error)
		}
		e.start[po.Partition], e.end[po.Partition] = po.FirstOffset, po.LastOffset
	}
	return e, nil
}

// errStop ends a read early without an error.
var errStop = errors.New("stop reading")

// read calls fn with each record of partition p from offset from up to,
// not including, offset to, in order, and returns fn's first error
// (errStop ends the read quietly). Records gone meanwhile (retention) are
// skipped.
func (t Topic) read(ctx context.Context, p int, from, to int64, fn func(kafka.Message) error) error {
	cl := t.client()
	for empty := 0; from < to; {
		resp, err := cl.Fetch(ctx, &kafka.FetchRequest{Topic: t.Name, Partition: p, Offset: from, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		if err == nil {
			err = resp.Error
		}
		if errors.Is(err, kafka.OffsetOutOfRange) && resp.LogStartOffset > from {
			from = resp.LogStartOffset // deleted by retention since the extent was taken
			continue
		}
		if err != nil {
			return fmt.Errorf("dead-letter topic %s/%d: read at %d: %w", t.Name, p, from, err)
		}
		read := false
		for {
			rec, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("dead-letter topic %s/%d: read at %d: %w", t.Name, p, from, err)
			}
			if rec.Offset < from {
				continue // a batch may start before the offset asked for
			}
			if rec.Offset >= to {
				return nil
			}
			m, err := message(t.Name, p, rec)
			if err != nil {
				return fmt.Errorf("dead-letter topic %s/%d: read at %d: %w", t.Name, p, rec.Offset, err)
			}
			if err := fn(m); err != nil {
				if errors.Is(err, errStop) {
					return nil
				}
				return err
			}
			from, read = rec.Offset+1, true
		}
		// A fetch that returns nothing below the high-water mark more than
		// a few times holds only records that are not data (transaction
		// markers): there is nothing more to read.
		if !read {
			if empty++; empty >= 3 || resp.HighWatermark <= from {
				return nil
			}
		}
	}
	return nil
}

// message copies rec, which is valid only until the next record is read.
func message(topic string, p int, rec *kafka.Record) (kafka.Message, error) {
	key, err := readBytes(rec.Key)
	if err != nil {
		return kafka.Message{}, err
	}
	value, err := readBytes(rec.Value)
	if err != nil {
		return kafka.Message{}, err
	}
	hs := make([]kafka.Header, len(rec.Headers))
	for i, h := range rec.Headers {
		hs[i] = kafka.Header{Key: h.Key, Value: bytes.Clone(h.Value)}
	}
	return kafka.Message{Topic: topic, Partition: p, Offset: rec.Offset, Time: rec.Time, Key: key, Value: value, Headers: hs}, nil
}

// readBytes reads a record's key or value; nil stays nil (a null key is
// not an empty one).
func readBytes(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return io.ReadAll(b)
}

// scan calls fn with every record of the extent, partition by partition.
func (t Topic) scan(ctx context.Context, e extent, fn func(kafka.Message) error) error {
	for _, p := range e.partitions {
		if err := t.read(ctx, p, e.start[p], e.end[p], fn); err != nil {
			return err
		}
	}
	return nil
}
