package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/streams"
)

// PublishLines is `connector publish`: every line of in (a record as
// `connector map` reads it, {"key","value","headers"}, or a bare JSON
// value) is checked and then published to topic with its key and headers,
// Kafka acknowledging each batch. With sink set, a line is checked as that
// sink would take it: through its mapping, when it has one, and its
// schema; a line the sink would dead-letter is refused. One refused line
// refuses the run: every refusal is reported to out and nothing is
// published. It returns how many records were published.
func PublishLines(ctx context.Context, cfg *config.Config, topic, sink string, in io.Reader, out io.Writer) (int, error) {
	cfg = cfg.WithDefaults()
	var verdict func(*streams.Record) error
	if sink != "" {
		prog, check, err := Mapper(cfg, sink)
		if err != nil {
			return 0, err
		}
		verdict = func(r *streams.Record) error {
			res := mapping.Map(ctx, prog, check, r)
			if res.DeadLettered() {
				return fmt.Errorf("sink %s would dead-letter it (%s): %s", sink, res.Reason, res.Error)
			}
			return nil
		}
	}
	var recs []*streams.Record
	var refused []error
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		r, err := mapping.RecordOf(line)
		if err == nil && verdict != nil {
			err = verdict(r)
		}
		if err != nil {
			refused = append(refused, fmt.Errorf("line %d: %w", n, err))
			fmt.Fprintf(out, "line %d refused: %v\n", n, err)
			continue
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(refused) > 0 {
		return 0, fmt.Errorf("%d lines refused, nothing published: %w", len(refused), errors.Join(refused...))
	}
	sec, err := KafkaSecurity(cfg.Kafka, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	p, err := streams.NewPublisher(streams.PublisherConfig[*streams.Record]{
		Brokers: cfg.Kafka.Brokers, Security: sec, Topic: topic,
		Compression: cfg.Kafka.Compression, Acks: cfg.Kafka.Acks,
		Encode:  func(r *streams.Record) ([]byte, error) { return r.Value, nil },
		Key:     func(r *streams.Record) string { return string(r.Key) },
		Headers: func(r *streams.Record) []streams.Header { return r.Headers },
	})
	if err != nil {
		return 0, err
	}
	defer p.Close()
	published := 0
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		if err := p.Publish(ctx, recs[:n]...); err != nil {
			return published, err
		}
		published += n
		recs = recs[n:]
	}
	fmt.Fprintf(out, "published %d records to %s\n", published, topic)
	return published, nil
}
