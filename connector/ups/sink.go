package ups

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/contactlab/connector/connector/internal/due"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// SinkConfig configures one UPS sink (one collection).
type SinkConfig struct {
	// Pipeline names the sink's pipeline; its units are named after it.
	Pipeline   string
	Collection schemas.Collection
	// Grouped sends userlinking requests with type "grouped"; otherwise the
	// API applies explicit linking.
	Grouped bool
	SiteID  int
	// MaxRecords, MaxBodyBytes and Linger shape requests (see BatcherConfig).
	MaxRecords   int
	MaxBodyBytes int
	Linger       time.Duration
	// PollInterval is the longest wait between two status reads of one job
	// (the first come sooner; see JobFollower), and
	// JobTimeout how long a job is followed before it counts as FAILED.
	PollInterval time.Duration
	JobTimeout   time.Duration
	// MaxJobAttempts bounds how often a record is sent because its job FAILED.
	MaxJobAttempts int
	// RetryMemory is how long a record handed back to the runtime for a
	// retry is remembered (ordering; see doc.go).
	RetryMemory time.Duration
	// Drain is how long the sink's units keep working after a stop while
	// Write calls still wait: the pipeline's shutdown grace.
	Drain time.Duration
	// Senders is how many requests of the sink may be in flight at once;
	// StatusReaders how many status reads.
	Senders       int
	StatusReaders int
	Logger        *slog.Logger
	Metrics       *Metrics
}

// EnrichmentSink is the streams.Sink of one collection. Write checks each
// record (schemas.DecodeUPSRecord; a bad one is rejected as "invalid", one
// that cannot fit in a request as "too_large", before any call), admits the
// others to the Batcher, and returns when each has an outcome: its job
// COMPLETED, a newer update of its user replaced it, or it was rejected or
// handed back for retry. Its two units, Sender and Follower, must run for
// Write calls to end.
type EnrichmentSink struct {
	coll     schemas.Collection
	batcher  *Batcher
	sender   *RequestSender
	follower *JobFollower
}

// NewEnrichmentSink builds a sink and its units over the shared client.
func NewEnrichmentSink(cfg SinkConfig, client *Client, results ResultPublisher) (*EnrichmentSink, error) {
	if _, err := schemas.ParseCollection(string(cfg.Collection)); err != nil {
		return nil, fmt.Errorf("ups sink %s: %w", cfg.Pipeline, err)
	}
	if cfg.MaxRecords < 1 || cfg.MaxBodyBytes < 1024 || cfg.MaxJobAttempts < 1 || cfg.PollInterval <= 0 || cfg.JobTimeout <= 0 {
		return nil, fmt.Errorf("ups sink %s: max records, body bytes, job attempts, poll interval and job timeout must be positive (defaults not applied?)", cfg.Pipeline)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 4
	}
	if cfg.StatusReaders <= 0 {
		cfg.StatusReaders = 8
	}
	if cfg.RetryMemory <= 0 {
		cfg.RetryMemory = time.Hour
	}
	b := NewBatcher(BatcherConfig{
		MaxRecords:     cfg.MaxRecords,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Linger:         cfg.Linger,
		SiteID:         cfg.SiteID,
		Grouped:        cfg.Grouped,
		MaxJobAttempts: cfg.MaxJobAttempts,
		RetryMemory:    cfg.RetryMemory,
	})
	b.onCoalesce = cfg.Metrics.coalesced.Inc
	f := &JobFollower{
		// "/" cannot appear in a sink name, so these never name another unit.
		name:       cfg.Pipeline + "/job-follower",
		pipeline:   cfg.Pipeline,
		coll:       cfg.Collection,
		interval:   cfg.PollInterval,
		timeout:    cfg.JobTimeout,
		readers:    cfg.StatusReaders,
		drain:      cfg.Drain,
		client:     client,
		batcher:    b,
		results:    results,
		log:        cfg.Logger.With("unit", "job-follower"),
		m:          cfg.Metrics,
		publishing: 100 * time.Millisecond,
		jobs:       due.New[*openJob](),
	}
	s := &RequestSender{
		name:     cfg.Pipeline + "/sender",
		coll:     cfg.Collection,
		senders:  cfg.Senders,
		drain:    cfg.Drain,
		client:   client,
		batcher:  b,
		follower: f,
		log:      cfg.Logger.With("unit", "sender"),
		m:        cfg.Metrics,
		maxRecs:  cfg.MaxRecords,
		maxBytes: cfg.MaxBodyBytes,
	}
	return &EnrichmentSink{coll: cfg.Collection, batcher: b, sender: s, follower: f}, nil
}

// Sender is the unit that sends the sink's requests.
func (s *EnrichmentSink) Sender() *RequestSender { return s.sender }

// Follower is the unit that follows the sink's jobs.
func (s *EnrichmentSink) Follower() *JobFollower { return s.follower }

// Batcher is the sink's Batcher, for tests and progress reports.
func (s *EnrichmentSink) Batcher() *Batcher { return s.batcher }

// Write implements streams.Sink.
func (s *EnrichmentSink) Write(ctx context.Context, batch []*streams.Record) error {
	call := newWriteCall(len(batch))
	entries := make([]*entry, 0, len(batch))
	for i, r := range batch {
		e, err := s.check(r)
		if err != nil {
			if !errors.Is(err, streams.ErrRejected) {
				return err
			}
			call.errs[i] = err
			continue
		}
		e.idx = i
		entries = append(entries, e)
	}
	s.batcher.Admit(call, entries)
	select {
	case <-call.done:
	case <-ctx.Done():
		if s.batcher.Abandon(call) {
			return fmt.Errorf("ups %s: waiting for the outcomes of %d records: %w", s.coll, len(batch), ctx.Err())
		}
		// Every outcome had arrived after all.
	}
	for _, err := range call.errs {
		if err != nil {
			return &streams.BatchError{Errs: call.errs}
		}
	}
	return nil
}

// check decodes r into an entry, or says why it cannot be sent.
func (s *EnrichmentSink) check(r *streams.Record) (*entry, error) {
	rec, err := schemas.DecodeUPSRecord(s.coll, r.Value)
	if err != nil {
		if errors.Is(err, schemas.ErrUnknownCollection) {
			return nil, fmt.Errorf("ups sink: %w", err) // a configuration bug, not a bad record
		}
		return nil, streams.Reject("invalid", fmt.Errorf("ups %s: %w", s.coll, err))
	}
	data := compactJSON(r.Value)
	ok, err := s.batcher.fits(data)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, streams.Reject("too_large", fmt.Errorf("ups %s: the record of user %q does not fit in a request of %d bytes, even alone and compressed", s.coll, rec.UserID, s.batcher.cfg.MaxBodyBytes))
	}
	return &entry{
		user: rec.UserID,
		data: data,
		pos:  position{topic: r.Topic, partition: r.Partition, offset: r.Offset},
	}, nil
}

// compactJSON drops the insignificant white space of a valid JSON value, so
// it does not count against the request limits.
func compactJSON(v []byte) []byte {
	if !bytes.ContainsAny(v, " \t\r\n") {
		return v
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return v
	}
	return buf.Bytes()
}
