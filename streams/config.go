package streams

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// PipelineConfig configures one sink pipeline: a consumer group on Topics
// whose records go through a Sink.
type PipelineConfig struct {
	// Name identifies the pipeline in logs, metrics and dead-letter headers.
	Name     string
	Brokers  []string
	Security Security
	// Compression and Acks of the dead-letter producer (ProducerConfig).
	Compression string
	Acks        string
	GroupID     string
	Topics      []string
	// DeadLetterTopic receives records that cannot be delivered.
	DeadLetterTopic string

	// MaxInFlight bounds the records fetched but not yet finished; fetching
	// waits when it is reached (back-pressure, bounded memory).
	MaxInFlight int
	// Concurrency is how many Sink.Write calls run at once; 0 with
	// AdaptiveConcurrency set adapts it (request-per-record sinks).
	Concurrency int
	// AdaptiveConcurrency bounds the adaptive limit: it grows while the
	// API's latency stays flat and shrinks when it rises or calls fail.
	AdaptiveConcurrency struct{ Min, Max int }
	// BatchMaxRecords and BatchLinger shape the batches given to Sink.Write:
	// a batch is handed over when full or BatchLinger after its first record.
	BatchMaxRecords int
	BatchLinger     time.Duration

	Retry RetryPolicy
	// Health says when the pipeline is not ready although it runs.
	Health HealthPolicy

	// CommitInterval is how often finished offsets are committed.
	CommitInterval time.Duration
	// ShutdownGrace is how long a graceful stop waits for in-flight records.
	ShutdownGrace time.Duration
	// StartFromLatest makes a group with no committed offset start at the end
	// of the topics instead of the beginning.
	StartFromLatest bool
	// SessionTimeout and HeartbeatInterval tune group membership (failover time).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration

	// OnShare, when set, is told this pipeline's share of its consumer
	// group's work whenever it changes: the partitions of Topics the group
	// assigned to this process over all it assigned, from 0 to 1. Several
	// processes with one config share an API's rate limit by pacing at
	// their share of it (see share.go for how the share is read, and
	// when). It is called from the pipeline's goroutines, one call at a
	// time, and must not block.
	OnShare func(share float64)

	Logger  *slog.Logger
	Metrics *Metrics
}

// DefaultSessionTimeout is the consumer-group session timeout of
// pipelines, subscriptions and leader elections: how long a member that
// stopped heartbeating (SIGKILL, a frozen host, a network partition) keeps
// its partitions before the group gives them to another. kafka-go has no
// static membership, so a restarted process after a crash waits this long
// before it delivers again (a process stopped gracefully leaves the group,
// and its successor joins at once). 10 s and 3 s are Kafka Connect's
// defaults for its workers' group: a crashed process's partitions move
// within about 10 s, and an idle member costs a heartbeat every 3 s (at
// 6 s and 1 s, heartbeats were half of what an idle pipeline costs: 100
// idle pipelines took 1.80% of a core instead of 3.25%, measured one
// after the other). A
// stock broker accepts down to 6 s (group.min.session.timeout.ms) for
// faster failover; kafka-go heartbeats from its own goroutine, so slow
// records never miss a heartbeat.
const DefaultSessionTimeout = 10 * time.Second

// DefaultHeartbeatInterval is a third of the session, Kafka's advice.
const DefaultHeartbeatInterval = 3 * time.Second

// withDefaults fills zero fields; the connector's config package documents
// the same defaults to users.
func (c PipelineConfig) withDefaults() PipelineConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 2000
	}
	if c.Concurrency == 0 && c.AdaptiveConcurrency.Max == 0 {
		c.Concurrency = 64
	}
	if c.BatchMaxRecords == 0 {
		c.BatchMaxRecords = 1
	}
	def(&c.BatchLinger, 5*time.Millisecond)
	def(&c.Retry.InitialInterval, 100*time.Millisecond)
	def(&c.Retry.MaxInterval, 10*time.Second)
	def(&c.CommitInterval, 200*time.Millisecond)
	c.Health = c.Health.withDefaults()
	def(&c.ShutdownGrace, 10*time.Second)
	def(&c.SessionTimeout, DefaultSessionTimeout)
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	if c.GroupID == "" {
		c.GroupID = c.Name
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	return c
}

// Validate reports the first field that cannot work, naming it.
func (c PipelineConfig) Validate() error {
	var errs []error
	bad := func(field, why string) { errs = append(errs, fmt.Errorf("pipeline %q: %s: %s", c.Name, field, why)) }
	if c.Name == "" {
		bad("name", "must be set")
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one broker is needed")
	}
	if len(c.Topics) == 0 {
		bad("topics", "at least one topic is needed")
	}
	if c.DeadLetterTopic == "" {
		bad("dead_letter_topic", "must be set: a record that cannot be delivered goes there")
	}
	for _, t := range c.Topics {
		if t == c.DeadLetterTopic && t != "" {
			bad("dead_letter_topic", "must differ from the input topics")
		}
	}
	if c.MaxInFlight < 0 || c.Concurrency < 0 || c.BatchMaxRecords < 0 {
		bad("max_in_flight/concurrency/batch", "must not be negative")
	}
	if c.BatchMaxRecords > c.MaxInFlight && c.MaxInFlight > 0 {
		bad("batch_max_records", "must not exceed max_in_flight, or a batch could never fill")
	}
	return errors.Join(errs...)
}

// concurrency is the limiter's setting.
func (c PipelineConfig) concurrency() Concurrency {
	if c.Concurrency > 0 {
		return Concurrency{Fixed: c.Concurrency}
	}
	return Concurrency{Min: c.AdaptiveConcurrency.Min, Max: c.AdaptiveConcurrency.Max}
}
