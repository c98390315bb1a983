package ups

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// SinkConfig configures one UPS sink (one collection).
type SinkConfig struct {
	// Pipeline names the sink's pipeline; its parts are named after it.
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
// others to the Batcher and returns at once; each admitted record's outcome
// is reported later, when known: its job COMPLETED, a newer update of its
// user replaced it, or it was rejected or handed back for retry. The
// RequestSender and the JobFollower, which Start runs, produce those
// outcomes; they are also the sink's Parts.
type EnrichmentSink struct {
	coll     schemas.Collection
	batcher  *Batcher
	sender   *RequestSender
	follower *JobFollower
	closed   sync.Once
}

var _ streams.Sink = (*EnrichmentSink)(nil)

// NewEnrichmentSink builds a sink and its parts over the shared client.
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
	f, err := newJobFollower(cfg, client, b, results)
	if err != nil {
		return nil, err
	}
	s := &RequestSender{
		name:     cfg.Pipeline + "/sender",
		coll:     cfg.Collection,
		senders:  cfg.Senders,
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

// Batcher is the sink's Batcher, for tests and progress reports.
func (s *EnrichmentSink) Batcher() *Batcher { return s.batcher }

// Parts are the sender and the job follower, which report their readiness
// on /readyz beside the pipeline ("<pipeline>/sender",
// "<pipeline>/job-follower").
func (s *EnrichmentSink) Parts() []streams.Part {
	return []streams.Part{s.sender, s.follower}
}

// Start runs the sender's loops and the job follower as the runtime's
// background work: they end when its context does, at the forced stop.
func (s *EnrichmentSink) Start(_ context.Context, bg *streams.Background) error {
	s.start(bg.Go)
	return nil
}

// start runs the sink's background work through spawn (Background.Go, or
// a test's stand-in).
func (s *EnrichmentSink) start(spawn func(name string, fn func(context.Context) error)) {
	for range s.sender.senders {
		spawn(s.sender.name, s.sender.loop)
	}
	spawn(s.follower.name, s.follower.run)
}

// Sequential implements streams.Sequential: Write only admits, and the
// Batcher keeps a user's updates in offset order among the records it has
// seen, so the runtime hands them over in the order it fetched them.
func (*EnrichmentSink) Sequential() bool { return true }

// Write implements streams.Sink: it returns as soon as the records are
// checked and admitted; their outcomes come through done.
func (s *EnrichmentSink) Write(_ context.Context, batch []*streams.Record, done streams.Done) {
	entries := make([]*entry, 0, len(batch))
	for _, r := range batch {
		e, err := s.check(r)
		if err != nil {
			done(r, err)
			continue
		}
		e.rec, e.done = r, done
		entries = append(entries, e)
	}
	s.batcher.Admit(entries)
}

// Drain implements streams.Sink: what the Batcher holds is sent now, without
// waiting for requests to fill. The sender and the follower go on until the
// runtime's forced stop, so jobs that end within the grace report their
// records.
func (s *EnrichmentSink) Drain() { s.batcher.Drain() }

// Close implements streams.Sink, after the background work ended: the
// places among open jobs that this sink's jobs still held are given back,
// since the client and its bound are shared with the other UPS sinks. Those
// jobs' records stay uncommitted and are read again. Calling Close twice is
// safe.
func (s *EnrichmentSink) Close() error {
	s.closed.Do(s.follower.abandon)
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
