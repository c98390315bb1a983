package service

import (
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/streams"
)

// UpdatesSourceConfig are the keys of a source of type contacthub-updates
// (the Contacthub update stream -> Kafka), beside its name and type.
type UpdatesSourceConfig struct {
	// CustomersTopic and EventsTopic receive the changes.
	CustomersTopic string `yaml:"customers_topic"`
	EventsTopic    string `yaml:"events_topic"`
	// DeadLetterTopic receives the updates that would not make a valid
	// envelope, as read, with the reason in headers (default <name>.dlq).
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// OffsetsTopic is the compacted topic holding the last published offset.
	OffsetsTopic string `yaml:"offsets_topic"`
	// GroupID is the consumer group through which the replicas that run this
	// source elect the one that tails the stream (default
	// connector-source-<name>); it joins OffsetsTopic and reads nothing.
	GroupID string `yaml:"group_id"`
	// Start when no offset is stored: earliest, latest, or an RFC 3339 time.
	Start string `yaml:"start"`
	// PageSize is the update-stream page size (at most 4000).
	PageSize int `yaml:"page_size"`
	// MaxPageBytes is the read limit of one page's answer: a longer page
	// is asked again with a smaller size, an update longer on its own is
	// dead-lettered (reason too_large) with its offset.
	MaxPageBytes int64 `yaml:"max_page_bytes"`
	// PollInterval is the wait after a short or empty page (jittered).
	PollInterval time.Duration `yaml:"poll_interval"`
	NodeID       string        `yaml:"node_id"`
	Entity       string        `yaml:"entity"` // CUSTOMER, EVENT or empty for both
	// Tombstones: a customer DELETE is followed by a null value (default true).
	Tombstones *bool `yaml:"tombstones"`
	// Envelope: contacthub (default: the update envelope) or cloudevents
	// (the entity's data as a binary-mode CloudEvent).
	Envelope string       `yaml:"envelope"`
	Retry    config.Retry `yaml:"retry"`
}

// A contacthub-updates source republishes the workspace's update stream to
// Kafka.
func init() {
	registerSource(config.SourceType[UpdatesSourceConfig]{
		Name:     "contacthub-updates",
		Needs:    []string{contacthubSection},
		Defaults: updatesSourceDefaults,
		Validate: validateUpdatesSource,
	}, buildUpdatesSource)
}

func updatesSourceDefaults(src *config.Source, s *UpdatesSourceConfig) {
	config.Default(&s.OffsetsTopic, "connector.source-offsets")
	config.Default(&s.GroupID, "connector-source-"+src.Name)
	config.Default(&s.CustomersTopic, "contacthub.customers")
	config.Default(&s.EventsTopic, "contacthub.events")
	config.Default(&s.DeadLetterTopic, src.Name+".dlq")
	config.Default(&s.Start, "earliest")
	config.Default(&s.PageSize, 4000)
	config.Default(&s.MaxPageBytes, 32<<20)
	config.Default(&s.PollInterval, time.Second)
	if s.Tombstones == nil {
		t := true
		s.Tombstones = &t
	}
	config.Default(&s.Envelope, contacthub.EnvelopeContacthub)
	config.Default(&s.Retry.Initial, 200*time.Millisecond)
	config.Default(&s.Retry.Max, 30*time.Second)
}

func validateUpdatesSource(p config.Problems, _ *config.Config, _ *config.Source, s *UpdatesSourceConfig) {
	p.InRange("page_size", s.PageSize, 1, 4000, "the API's limit")
	if s.MaxPageBytes < contacthub.MinPageBytes || s.MaxPageBytes > 1<<30 {
		p.Add("max_page_bytes", "%d is not in %d..%d", s.MaxPageBytes, contacthub.MinPageBytes, 1<<30)
	}
	if s.Start != "earliest" && s.Start != "latest" {
		if _, err := time.Parse(time.RFC3339, s.Start); err != nil {
			p.Add("start", "%q is not earliest, latest or an RFC 3339 time", s.Start)
		}
	}
	p.OneOf("envelope", s.Envelope, contacthub.EnvelopeContacthub, contacthub.EnvelopeCloudEvents)
	if s.Entity != "" && s.Entity != "CUSTOMER" && s.Entity != "EVENT" {
		p.Add("entity", "%q is not CUSTOMER or EVENT", s.Entity)
	}
	if s.NodeID != "" {
		p.UUID("node_id", s.NodeID)
	}
	if s.CustomersTopic == s.EventsTopic {
		p.Add("events_topic", "must differ from customers_topic")
	}
	if s.DeadLetterTopic == s.CustomersTopic || s.DeadLetterTopic == s.EventsTopic || s.DeadLetterTopic == s.OffsetsTopic {
		p.Add("dead_letter_topic", "must differ from the customers, events and offsets topics")
	}
	// The offsets record would be read as a customer, and customers as offsets.
	if s.OffsetsTopic == s.CustomersTopic || s.OffsetsTopic == s.EventsTopic {
		p.Add("offsets_topic", "must differ from customers_topic and events_topic")
	}
	if s.PollInterval < 0 {
		p.Add("poll_interval", "must not be negative")
	}
	if s.Retry.Initial > s.Retry.Max {
		p.Add("retry.initial", "must not exceed retry.max")
	}
}

// Options are the source options of the settings of source name.
func (s *UpdatesSourceConfig) Options(name string) contacthub.SourceOptions {
	return contacthub.SourceOptions{
		Name:            name,
		CustomersTopic:  s.CustomersTopic,
		EventsTopic:     s.EventsTopic,
		DeadLetterTopic: s.DeadLetterTopic,
		OffsetsTopic:    s.OffsetsTopic,
		GroupID:         s.GroupID,
		Start:           s.Start,
		PageSize:        s.PageSize,
		MaxPageBytes:    s.MaxPageBytes,
		PollInterval:    s.PollInterval,
		NodeID:          s.NodeID,
		Entity:          s.Entity,
		Tombstones:      s.Tombstones == nil || *s.Tombstones,
		Envelope:        s.Envelope,
		Retry:           contacthub.RetryOptions{Initial: s.Retry.Initial, Max: s.Retry.Max},
	}
}

// buildUpdatesSource builds a contacthub-updates source: one unit that takes
// part in the source's leader election and tails the stream while it leads,
// and the topics it writes (customers compacted, events, and the one-partition
// compacted offsets topic the election runs on).
func buildUpdatesSource(d *Deps, src config.Source, s *UpdatesSourceConfig) ([]Unit, []streams.TopicSpec, error) {
	m, err := contacthub.NewSourceMetrics(d.Registry)
	if err != nil {
		return nil, nil, err
	}
	k := d.Config.Kafka
	u, err := contacthub.NewUpdateStreamSource(contacthub.UpdateStreamSourceConfig{
		Source: s.Options(src.Name),
		Kafka: contacthub.KafkaOptions{Brokers: k.Brokers, SessionTimeout: k.SessionTimeout,
			HeartbeatInterval: k.HeartbeatInterval, Partitions: k.Partitions},
		Security: d.Security,
		Client:   d.Contacthub(),
		Metrics:  m,
		Streams:  d.Streams,
		Logger:   d.Log,
	})
	if err != nil {
		return nil, nil, err
	}
	return []Unit{u}, u.Topics(), nil
}
