package contacthub

import (
	"log/slog"
	"time"

	"github.com/contactlab/connector/connector/internal/credprobe"
)

// Options configure a Client. Every field is used as given: the connector's
// config (package service) fills the defaults.
type Options struct {
	// BaseURL is the API root, e.g. https://api.contactlab.it/hub/v1.
	BaseURL     string
	WorkspaceID string
	// Token is the bearer token. Nothing the client prints shows it.
	Token string
	// Timeout bounds one request.
	Timeout time.Duration
	// MaxRequestsPerMinute, when positive, is the pace the client keeps
	// below instead of the workspace throttling it reads from the API.
	MaxRequestsPerMinute int
	// Headroom is the share of the throttling the client uses, in (0, 1].
	Headroom float64
	// MaxEventBytes is Create event's payload limit, checked on the body as
	// sent; 0 means DefaultMaxEventBytes.
	MaxEventBytes int
	// Forbidden says what a 403 on a record's call means, which the
	// reference leaves open: ForbiddenProbe ("" too) asks a cheap read the
	// token may make, and dead-letters the record when it works;
	// ForbiddenPause takes every 403 for a refused token.
	Forbidden string
	// ThrottlingRefresh is how often the workspace throttling is read
	// again, so that a change made in Contacthub is followed without a
	// restart; 0 means DefaultThrottlingRefresh.
	ThrottlingRefresh time.Duration
	Paths             Paths
	// Logger gets the client's warnings (a throttling it cannot read);
	// nil means slog.Default().
	Logger *slog.Logger
}

// DefaultMaxEventBytes is Options.MaxEventBytes when 0: the reference's
// "Event's payload must not exceed 64kB", read as 64 KiB. 64000 is the
// other reading.
const DefaultMaxEventBytes = 64 * 1024

// The readings of a 403 (Options.Forbidden).
const (
	ForbiddenProbe = credprobe.Probe
	ForbiddenPause = credprobe.Pause
)

// DefaultThrottlingRefresh is Options.ThrottlingRefresh when 0.
const DefaultThrottlingRefresh = time.Minute

// Paths are the API paths; {workspaceId} is replaced.
type Paths struct {
	Events     string
	Throttling string
	Updates    string
	LastOffset string
}

// SourceOptions are the settings of one UpdateStreamSource. Every field is
// used as given: the connector's config (package service) fills the
// defaults.
type SourceOptions struct {
	// Name names the source in metrics, logs and dead letters.
	Name string
	// CustomersTopic and EventsTopic receive the changes.
	CustomersTopic string
	EventsTopic    string
	// DeadLetterTopic receives the updates that would not make a valid
	// envelope, as read.
	DeadLetterTopic string
	// OffsetsTopic is the compacted one-partition topic holding the last
	// published offset; the replicas elect the tailer on it.
	OffsetsTopic string
	// GroupID is the consumer group of the leader election.
	GroupID string
	// Start is where a source with no stored offset starts: earliest,
	// latest, or an RFC 3339 time.
	Start string
	// PageSize is the update-stream page size (at most 4000).
	PageSize int
	// MaxPageBytes is the read limit of one page's answer (at least
	// MinPageBytes): a longer page is asked again with a smaller size, and
	// an update longer on its own is dead-lettered.
	MaxPageBytes int64
	// PollInterval is the wait after a short or empty page (jittered).
	PollInterval time.Duration
	// NodeID and Entity (CUSTOMER, EVENT) filter the stream when set.
	NodeID string
	Entity string
	// Tombstones: a customer DELETE is followed by a null value.
	Tombstones bool
	// Envelope is EnvelopeContacthub ("" too) or EnvelopeCloudEvents.
	Envelope string
	// Retry is the back-off of failed calls and produces.
	Retry RetryOptions
}

// MinPageBytes is the least SourceOptions.MaxPageBytes.
const MinPageBytes = 1 << 10

// RetryOptions are the bounds of an exponential back-off.
type RetryOptions struct {
	Initial time.Duration
	Max     time.Duration
}

// KafkaOptions say how an UpdateStreamSource reaches the brokers.
type KafkaOptions struct {
	Brokers []string
	// SessionTimeout and HeartbeatInterval tune the leader election; the
	// session timeout is also how long a dead leader keeps the lead.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// Partitions of the customers, events and dead-letter topics.
	Partitions int
}
