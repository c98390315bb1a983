package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams/delivery"
)

// SubscribeConfig configures Subscribe.
type SubscribeConfig struct {
	Brokers  []string
	Security Security
	// GroupID is the application's consumer group: replicas of one
	// application share it and split the partitions.
	GroupID string
	Topics  []string
	// StartFromLatest makes a group with no committed offset start at the end
	// of the topics instead of the beginning.
	StartFromLatest bool
	// CommitInterval is how often the offsets of handled records are
	// committed (and once more on a graceful stop). A crash repeats at most
	// this much: handlers de-duplicate by Change.Offset or by a header.
	CommitInterval time.Duration
	// Retry is the back-off between attempts of a handler that failed with a
	// retryable error. MaxElapsed is not used: a record is retried until it
	// succeeds, since skipping it would break the order of its key.
	Retry             RetryPolicy
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	Logger            *slog.Logger
}

func (c SubscribeConfig) withDefaults() SubscribeConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.CommitInterval, time.Second)
	def(&c.Retry.InitialInterval, 100*time.Millisecond)
	def(&c.Retry.MaxInterval, 10*time.Second)
	memberDefaults(&c.SessionTimeout, &c.HeartbeatInterval, &c.Logger)
	return c
}

// Validate reports every field that cannot work, naming it.
func (c SubscribeConfig) Validate() error {
	p := configProblems{config: fmt.Sprintf("subscribe %q", c.GroupID)}
	p.member(c.Brokers, c.GroupID, "must be set: commits are kept per group")
	p.check(len(c.Topics) == 0, "topics", "at least one topic is needed")
	p.check(c.CommitInterval < 0, "commit_interval", "must not be negative")
	p.check(c.Retry.InitialInterval > c.Retry.MaxInterval && c.Retry.MaxInterval > 0, "retry.initial_interval", "must not exceed retry.max_interval")
	return p.err()
}

// memberDefaults fills the zero settings every member of a consumer group
// has: its session timeout, its heartbeat interval and its logger.
func memberDefaults(session, heartbeat *time.Duration, logger **slog.Logger) {
	if *session == 0 {
		*session = DefaultSessionTimeout
	}
	if *heartbeat == 0 {
		*heartbeat = DefaultHeartbeatInterval
	}
	if *logger == nil {
		*logger = slog.Default()
	}
}

// configProblems collects what a Validate finds, each problem as an error
// naming the config and the field.
type configProblems struct {
	config string // e.g. `subscribe "app"`
	errs   []error
}

// check adds a problem of field when bad holds.
func (p *configProblems) check(bad bool, field, why string) {
	if bad {
		p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", p.config, field, why))
	}
}

// member checks what every member of a consumer group needs: brokers, and
// the group (groupWhy says why it must be set).
func (p *configProblems) member(brokers []string, groupID, groupWhy string) {
	p.check(len(brokers) == 0, "brokers", "at least one broker is needed")
	p.check(groupID == "", "group_id", groupWhy)
}

// err is every problem joined, or nil.
func (p *configProblems) err() error { return errors.Join(p.errs...) }

// Change is one record as a subscriber sees it: decoded, with where it was
// read. Offset (or a header the producer set, such as the Contacthub offset of
// an update) is what a handler de-duplicates by, since delivery is
// at-least-once.
type Change[T any] struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	// Value is the decoded value; the zero T (nil for pointer types) for a
	// tombstone.
	Value T
	// Tombstone is set for a record with a null value: its key was deleted.
	Tombstone bool
	Headers   []Header
	Time      time.Time
}

// Header returns the value of the first header named key, or nil.
func (c *Change[T]) Header(key string) []byte { return headerValue(c.Headers, key) }

// DecodeError is a record Subscribe could not decode. It Is ErrRejected:
// retrying cannot fix it, so it is logged and skipped.
type DecodeError struct {
	Topic     string
	Partition int
	Offset    int64
	Err       error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}
func (e *DecodeError) Unwrap() error        { return e.Err }
func (e *DecodeError) Is(target error) bool { return target == ErrRejected }

// Subscribe consumes Topics in the consumer group GroupID and calls handle
// with each record decoded by decode (tombstones are not decoded), one at a
// time and in order per partition. A record's offset is committed only after
// handle returned for it. handle's error decides what happens, as in the
// pipeline runtime:
//   - nil: done;
//   - an error that Is ErrRejected (a decode error is one): logged and
//     skipped;
//   - any other error (ErrUnauthorized included): retried with back-off,
//     honouring a RetryAfter hint, until it succeeds or ctx ends, because
//     going on would break the order of the record's key.
//
// Subscribe returns nil when ctx ends, after committing what was handled,
// and an error only when the configuration cannot work.
func Subscribe[T any](ctx context.Context, cfg SubscribeConfig, decode func([]byte) (T, error), handle func(context.Context, Change[T]) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if decode == nil || handle == nil {
		return fmt.Errorf("subscribe %q: decode and handle must not be nil", cfg.GroupID)
	}
	cfg = cfg.withDefaults()
	start := kafka.FirstOffset
	if cfg.StartFromLatest {
		start = kafka.LastOffset
	}
	log := cfg.Logger.With("group", cfg.GroupID)
	reader := kafka.NewReader(kafka.ReaderConfig{
		Dialer:            cfg.Security.fetchDialer(),
		Brokers:           cfg.Brokers,
		GroupID:           cfg.GroupID,
		GroupTopics:       cfg.Topics,
		MinBytes:          1,
		MaxBytes:          8 << 20,
		MaxWait:           fetchMaxWait,
		StartOffset:       start,
		CommitInterval:    cfg.CommitInterval,
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	// Close commits what CommitMessages queued; it is the graceful part.
	defer reader.Close()

	fetchRetry := delivery.Forever(100*time.Millisecond, 5*time.Second).Start()
	for {
		m, err := reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("fetch failed; retrying", "error", err)
			if fetchRetry.Wait(ctx, err) != nil {
				return nil
			}
			continue
		}
		fetchRetry.Reset()
		if !handleRecord(ctx, cfg, log, m, decode, handle) {
			return nil
		}
		// A handled record is committed even when ctx ended during its
		// handler (a handler may be what ended it): commits are only queued
		// here, and Close flushes them.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = reader.CommitMessages(cctx, m)
		cancel()
		if err != nil {
			log.Warn("queueing a commit failed; the record may be handled again", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "error", err)
		}
	}
}

// handleRecord runs one record to completion: handled or skipped. It reports
// false when ctx ended first (the record stays uncommitted).
func handleRecord[T any](ctx context.Context, cfg SubscribeConfig, log *slog.Logger, m kafka.Message, decode func([]byte) (T, error), handle func(context.Context, Change[T]) error) bool {
	ch := Change[T]{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Tombstone: m.Value == nil, Headers: headersOf(m.Headers), Time: m.Time}
	if !ch.Tombstone {
		v, err := decode(m.Value)
		if err != nil {
			log.Warn("skipping a record that does not decode", "error", &DecodeError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Err: err})
			return true
		}
		ch.Value = v
	}
	retry := delivery.Forever(cfg.Retry.InitialInterval, cfg.Retry.MaxInterval).Start()
	for attempt := 1; ; attempt++ {
		err := handle(ctx, ch)
		switch delivery.Classify(err) {
		case delivery.Delivered:
			return true
		case delivery.DeadLetter:
			log.Warn("handler rejected a record; skipping it", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "error", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait, _ := retry.Next(err)
		log.Warn("handler failed; retrying", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "attempt", attempt, "in", wait, "error", err)
		if !Sleep(ctx, wait) {
			return false
		}
	}
}

// headersOf converts the Kafka client's headers to the runtime's own.
func headersOf(hs []kafka.Header) []Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header(h)
	}
	return out
}
