package config

import "time"

// UPS is the Algonomy UPS Enrichment API, shared by every ups sink.
type UPS struct {
	// BaseURL is the gateway host, e.g. https://gateway.richrelevance.com.
	BaseURL      string        `yaml:"base_url"`
	APIKey       string        `yaml:"api_key"`
	ClientID     string        `yaml:"client_id"`
	ClientSecret Secret        `yaml:"client_secret"`
	Timeout      time.Duration `yaml:"timeout"`
	// UpdatesPerSecond caps user updates (records) per second across all
	// collections of the API key (the API's limit is 1000).
	UpdatesPerSecond int `yaml:"updates_per_second"`
	// MaxRecords and MaxBodyBytes bound one request (API: 1000 and 50 KB).
	MaxRecords   int `yaml:"max_records"`
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// StatusPollInterval is how often open jobs are checked.
	StatusPollInterval time.Duration `yaml:"status_poll_interval"`
	// MaxOpenJobs bounds the jobs followed at once (bounded memory).
	MaxOpenJobs int `yaml:"max_open_jobs"`
	// Headroom is the share of UpdatesPerSecond the connector uses (default
	// 1): lower it to leave room for other clients of the same API key.
	// Jitter needs none: requests take at most 95% of a second's budget and
	// a slow answer delays the next request by as much (see ups.Pacer).
	Headroom float64 `yaml:"headroom"`
	// JobTimeout is how long a job is followed; one with no outcome by then
	// counts as FAILED (its records are sent again).
	JobTimeout time.Duration `yaml:"job_timeout"`
}

// UPSSink is the part of a sink specific to type ups.
type UPSSink struct {
	// Collection: rr-userattributes, rr-segments, userlinking, rr-userpreferences.
	Collection string `yaml:"collection"`
	// LinkingType for userlinking: explicit (default) or grouped.
	LinkingType string `yaml:"linking_type"`
	// SiteID is sent as siteId when set.
	SiteID int `yaml:"site_id"`
	// ResultsTopic receives each job's outcome.
	ResultsTopic string `yaml:"results_topic"`
	// MaxJobAttempts bounds how often the records of a FAILED job are sent.
	MaxJobAttempts int `yaml:"max_job_attempts"`
}

// EnableNow is the EnableNow categorization API.
type EnableNow struct {
	BaseURL string        `yaml:"base_url"`
	Token   Secret        `yaml:"token"`
	Timeout time.Duration `yaml:"timeout"`
	// AuthHeader carries the credential (default Authorization); AuthScheme
	// prefixes it (default Bearer; empty for API-key headers).
	AuthHeader string  `yaml:"auth_header"`
	AuthScheme *string `yaml:"auth_scheme"`
	// JobsPath and JobStatusPath ({id} replaced) are overridable.
	JobsPath      string `yaml:"jobs_path"`
	JobStatusPath string `yaml:"job_status_path"`
	// TerminalStatuses are the job statuses after which a job changes no
	// more (compared case-insensitively). The reference documents none, so
	// they are configurable; default Completed, Failed, Cancelled.
	TerminalStatuses []string `yaml:"terminal_statuses"`
}

// EnableNowSink is the part of a sink specific to type enablenow.
type EnableNowSink struct {
	ResultsTopic string `yaml:"results_topic"`
	// MonitorJobs follows each job until it ends and publishes each status change.
	MonitorJobs  bool          `yaml:"monitor_jobs"`
	PollInterval time.Duration `yaml:"poll_interval"`
	// IdempotencyWindow is how long the API remembers an idempotency key.
	// Retries must end inside it (retry.max_elapsed is checked against it):
	// a retry after the API forgot the key could create a second job.
	IdempotencyWindow time.Duration `yaml:"idempotency_window"`
	// MaxMonitoredJobs bounds the jobs followed at once (bounded memory).
	// When it is reached the sink waits for a followed job to end before it
	// creates the next one (back-pressure on the topic).
	MaxMonitoredJobs int `yaml:"max_monitored_jobs"`
	// MonitorTimeout is how long a job is followed; a job that has not ended
	// by then gets a final result saying so and is no longer followed.
	MonitorTimeout time.Duration `yaml:"monitor_timeout"`
}

// Source is one source pipeline (Contacthub update stream -> Kafka).
type Source struct {
	Name string `yaml:"name"`
	// Type: contacthub-updates.
	Type string `yaml:"type"`
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
	// PollInterval is the wait after a short or empty page (jittered).
	PollInterval time.Duration `yaml:"poll_interval"`
	NodeID       string        `yaml:"node_id"`
	Entity       string        `yaml:"entity"` // CUSTOMER, EVENT or empty for both
	// Tombstones: a customer DELETE is followed by a null value (default true).
	Tombstones *bool `yaml:"tombstones"`
	Retry      Retry `yaml:"retry"`
}
