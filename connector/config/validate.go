package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Defaults fills every unset value. It is the one place defaults live.
func (c *Config) Defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defStr := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Kafka.SessionTimeout, 10*time.Second)
	def(&c.Kafka.HeartbeatInterval, time.Second)
	if c.Kafka.CreateTopics == nil {
		t := true
		c.Kafka.CreateTopics = &t
	}
	defInt(&c.Kafka.Partitions, 4)
	defStr(&c.HTTP.Listen, ":8080")
	defStr(&c.Log.Level, "info")
	defStr(&c.Log.Format, "json")
	if ch := c.Contacthub; ch != nil {
		defStr(&ch.BaseURL, "https://api.contactlab.it/hub/v1")
		def(&ch.Timeout, 10*time.Second)
		if ch.Headroom == 0 {
			ch.Headroom = 0.98
		}
		defStr(&ch.Paths.Events, "/workspaces/{workspaceId}/events")
		defStr(&ch.Paths.Throttling, "/workspaces/{workspaceId}/configuration/throttling")
		defStr(&ch.Paths.Updates, "/workspaces/{workspaceId}/updates")
		defStr(&ch.Paths.LastOffset, "/workspaces/{workspaceId}/updates/last-offset")
	}
	if u := c.UPS; u != nil {
		defStr(&u.BaseURL, "https://gateway.richrelevance.com")
		def(&u.Timeout, 30*time.Second)
		defInt(&u.UpdatesPerSecond, 1000)
		defInt(&u.MaxRecords, 1000)
		defInt(&u.MaxBodyBytes, 50*1024)
		def(&u.StatusPollInterval, time.Second)
		defInt(&u.MaxOpenJobs, 10000)
		if u.Headroom == 0 {
			u.Headroom = 1
		}
		def(&u.JobTimeout, 30*time.Minute)
	}
	if e := c.EnableNow; e != nil {
		defStr(&e.BaseURL, "https://api.enablenow.nl")
		def(&e.Timeout, 30*time.Second)
		defStr(&e.AuthHeader, "Authorization")
		if e.AuthScheme == nil {
			s := "Bearer"
			e.AuthScheme = &s
		}
		defStr(&e.JobsPath, "/v2/categorization-jobs")
		defStr(&e.JobStatusPath, "/v2/categorization-jobs/{id}")
		if len(e.TerminalStatuses) == 0 {
			e.TerminalStatuses = []string{"Completed", "Failed", "Cancelled"}
		}
	}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		defStr(&s.GroupID, "connector-"+s.Name)
		defStr(&s.DeadLetterTopic, s.Name+".dlq")
		defStr(&s.StartFrom, "earliest")
		def(&s.Retry.Initial, 100*time.Millisecond)
		def(&s.Retry.Max, 10*time.Second)
		def(&s.Retry.MaxElapsed, 15*time.Minute)
		def(&s.ShutdownGrace, 10*time.Second)
		def(&s.Batch.Linger, 5*time.Millisecond)
		switch s.Type {
		case SinkContacthubEvents:
			defInt(&s.Concurrency, 128)
			defInt(&s.MaxInFlight, 2000)
			defInt(&s.Batch.MaxRecords, 1)
		case SinkUPS:
			// Write returns only when the records' jobs ended (see package
			// ups), seconds after the request: the concurrency and records
			// in flight cover that latency at the API's rate.
			defInt(&s.Concurrency, 32)
			defInt(&s.MaxInFlight, 20000)
			defInt(&s.Batch.MaxRecords, 1000)
			if s.UPS == nil {
				s.UPS = &UPSSink{}
			}
			defStr(&s.UPS.LinkingType, "explicit")
			defStr(&s.UPS.ResultsTopic, s.Name+".results")
			defInt(&s.UPS.MaxJobAttempts, 3)
		case SinkEnableNow:
			defInt(&s.Concurrency, 32)
			defInt(&s.MaxInFlight, 1000)
			defInt(&s.Batch.MaxRecords, 1)
			if s.EnableNow == nil {
				s.EnableNow = &EnableNowSink{}
			}
			defStr(&s.EnableNow.ResultsTopic, s.Name+".results")
			def(&s.EnableNow.PollInterval, time.Second)
			def(&s.EnableNow.IdempotencyWindow, 24*time.Hour)
			defInt(&s.EnableNow.MaxMonitoredJobs, 10000)
			def(&s.EnableNow.MonitorTimeout, time.Hour)
		}
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		defStr(&s.OffsetsTopic, "connector.source-offsets")
		defStr(&s.GroupID, "connector-source-"+s.Name)
		defStr(&s.CustomersTopic, "contacthub.customers")
		defStr(&s.EventsTopic, "contacthub.events")
		defStr(&s.DeadLetterTopic, s.Name+".dlq")
		defStr(&s.Start, "earliest")
		defInt(&s.PageSize, 4000)
		def(&s.PollInterval, time.Second)
		if s.Tombstones == nil {
			t := true
			s.Tombstones = &t
		}
		def(&s.Retry.Initial, 200*time.Millisecond)
		def(&s.Retry.Max, 30*time.Second)
	}
}

var (
	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
)

// Validate checks every value and reports each problem as "key: reason".
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(c.Kafka.Brokers) == 0 {
		bad("kafka.brokers", "at least one broker is needed")
	}
	for i, b := range c.Kafka.Brokers {
		if !strings.Contains(b, ":") {
			bad(fmt.Sprintf("kafka.brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if c.Kafka.HeartbeatInterval >= c.Kafka.SessionTimeout {
		bad("kafka.heartbeat_interval", "must be shorter than kafka.session_timeout")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "%q is not json or text", c.Log.Format)
	}
	checkURL := func(key, v string) {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", v)
		}
	}
	if ch := c.Contacthub; ch != nil {
		checkURL("contacthub.base_url", ch.BaseURL)
		if !uuidRE.MatchString(ch.WorkspaceID) {
			bad("contacthub.workspace_id", "%q is not a uuid", ch.WorkspaceID)
		}
		if ch.Token.IsZero() {
			bad("contacthub.token", "must be set (a literal, ${ENV} or file:/path)")
		}
		if ch.MaxRequestsPerMinute < 0 {
			bad("contacthub.max_requests_per_minute", "must not be negative")
		}
		if ch.Headroom <= 0 || ch.Headroom > 1 {
			bad("contacthub.headroom", "%v is not in (0, 1]", ch.Headroom)
		}
	}
	if u := c.UPS; u != nil {
		checkURL("ups.base_url", u.BaseURL)
		if u.APIKey == "" {
			bad("ups.api_key", "must be set")
		}
		if u.ClientID == "" {
			bad("ups.client_id", "must be set")
		}
		if u.ClientSecret.IsZero() {
			bad("ups.client_secret", "must be set (a literal, ${ENV} or file:/path)")
		}
		if u.MaxRecords < 1 || u.MaxRecords > 1000 {
			bad("ups.max_records", "%d is not in 1..1000 (the API's limit)", u.MaxRecords)
		}
		if u.MaxBodyBytes < 1024 || u.MaxBodyBytes > 50*1024 {
			bad("ups.max_body_bytes", "%d is not in 1024..51200 (the API's limit is 50 KB)", u.MaxBodyBytes)
		}
		if u.UpdatesPerSecond < 1 {
			bad("ups.updates_per_second", "must be at least 1")
		}
		if u.MaxOpenJobs < 1 {
			bad("ups.max_open_jobs", "must be at least 1")
		}
		if u.Headroom <= 0 || u.Headroom > 1 {
			bad("ups.headroom", "%v is not in (0, 1]", u.Headroom)
		}
		if u.StatusPollInterval <= 0 {
			bad("ups.status_poll_interval", "must be positive")
		}
		if u.JobTimeout <= u.StatusPollInterval {
			bad("ups.job_timeout", "must be longer than ups.status_poll_interval")
		}
	}
	if e := c.EnableNow; e != nil {
		checkURL("enablenow.base_url", e.BaseURL)
		if e.Token.IsZero() {
			bad("enablenow.token", "must be set (a literal, ${ENV} or file:/path)")
		}
		if !strings.Contains(e.JobStatusPath, "{id}") {
			bad("enablenow.job_status_path", "must contain {id}")
		}
		for i, st := range e.TerminalStatuses {
			if strings.TrimSpace(st) == "" {
				bad(fmt.Sprintf("enablenow.terminal_statuses[%d]", i), "must not be empty")
			}
		}
	}
	names := map[string]bool{}
	for i, s := range c.Sinks {
		key := fmt.Sprintf("sinks[%d]", i)
		if !nameRE.MatchString(s.Name) {
			bad(key+".name", "%q must be letters, digits, '.', '_' or '-'", s.Name)
		}
		if names[s.Name] {
			bad(key+".name", "%q is used twice", s.Name)
		}
		names[s.Name] = true
		if len(s.Topics) == 0 {
			bad(key+".topics", "at least one topic is needed")
		}
		for _, t := range s.Topics {
			if t == s.DeadLetterTopic {
				bad(key+".dead_letter_topic", "must differ from the input topics")
			}
		}
		if s.StartFrom != "earliest" && s.StartFrom != "latest" {
			bad(key+".start_from", "%q is not earliest or latest", s.StartFrom)
		}
		if s.Concurrency < 1 || s.Concurrency > 4096 {
			bad(key+".concurrency", "%d is not in 1..4096", s.Concurrency)
		}
		if s.Batch.MaxRecords < 1 {
			bad(key+".batch.max_records", "must be at least 1")
		}
		if s.MaxInFlight < s.Batch.MaxRecords {
			bad(key+".max_in_flight", "%d is below batch.max_records (%d): a batch could never fill", s.MaxInFlight, s.Batch.MaxRecords)
		}
		if s.Retry.Initial > s.Retry.Max {
			bad(key+".retry.initial", "must not exceed retry.max")
		}
		if s.Type != SinkUPS && s.UPS != nil {
			bad(key+".ups", "only sinks of type ups take this section")
		}
		if s.Type != SinkEnableNow && s.EnableNow != nil {
			bad(key+".enablenow", "only sinks of type enablenow take this section")
		}
		switch s.Type {
		case SinkContacthubEvents:
			if c.Contacthub == nil {
				bad(key+".type", "contacthub-events needs the contacthub section")
			}
		case SinkUPS:
			if c.UPS == nil {
				bad(key+".type", "ups needs the ups section")
			}
			switch s.UPS.Collection {
			case "rr-userattributes", "rr-segments", "userlinking", "rr-userpreferences":
			default:
				bad(key+".ups.collection", "%q is not one of rr-userattributes, rr-segments, userlinking, rr-userpreferences", s.UPS.Collection)
			}
			switch s.UPS.LinkingType {
			case "explicit":
			case "grouped":
				if s.UPS.Collection != "userlinking" {
					bad(key+".ups.linking_type", "grouped applies to the userlinking collection only")
				}
			default:
				bad(key+".ups.linking_type", "%q is not explicit or grouped", s.UPS.LinkingType)
			}
			if s.UPS.MaxJobAttempts < 1 {
				bad(key+".ups.max_job_attempts", "must be at least 1")
			}
			if s.Batch.MaxRecords > 1000 {
				bad(key+".batch.max_records", "%d exceeds the API's 1000 records per request", s.Batch.MaxRecords)
			}
		case SinkEnableNow:
			if c.EnableNow == nil {
				bad(key+".type", "enablenow needs the enablenow section")
			}
			en := s.EnableNow
			// A retry after the API forgot the idempotency key could create a
			// second job for a request whose first attempt succeeded unseen.
			if s.Retry.MaxElapsed <= 0 || s.Retry.MaxElapsed >= en.IdempotencyWindow {
				bad(key+".retry.max_elapsed", "%s must be above 0 and below enablenow.idempotency_window (%s): a retry after the API forgets the idempotency key could create a second job", s.Retry.MaxElapsed, en.IdempotencyWindow)
			}
			if en.PollInterval <= 0 {
				bad(key+".enablenow.poll_interval", "must be positive")
			}
			if en.MaxMonitoredJobs < 1 {
				bad(key+".enablenow.max_monitored_jobs", "must be at least 1")
			}
			if en.MonitorTimeout <= en.PollInterval {
				bad(key+".enablenow.monitor_timeout", "must be longer than enablenow.poll_interval")
			}
		default:
			bad(key+".type", "%q is not one of %s, %s, %s", s.Type, SinkContacthubEvents, SinkUPS, SinkEnableNow)
		}
	}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if !nameRE.MatchString(s.Name) {
			bad(key+".name", "%q must be letters, digits, '.', '_' or '-'", s.Name)
		}
		if names[s.Name] {
			bad(key+".name", "%q is used twice", s.Name)
		}
		names[s.Name] = true
		if s.Type != SourceContacthubUpdates {
			bad(key+".type", "%q is not %s", s.Type, SourceContacthubUpdates)
		} else if c.Contacthub == nil {
			bad(key+".type", "contacthub-updates needs the contacthub section")
		}
		if s.PageSize < 1 || s.PageSize > 4000 {
			bad(key+".page_size", "%d is not in 1..4000 (the API's limit)", s.PageSize)
		}
		if s.Start != "earliest" && s.Start != "latest" {
			if _, err := time.Parse(time.RFC3339, s.Start); err != nil {
				bad(key+".start", "%q is not earliest, latest or an RFC 3339 time", s.Start)
			}
		}
		if s.Entity != "" && s.Entity != "CUSTOMER" && s.Entity != "EVENT" {
			bad(key+".entity", "%q is not CUSTOMER or EVENT", s.Entity)
		}
		if s.NodeID != "" && !uuidRE.MatchString(s.NodeID) {
			bad(key+".node_id", "%q is not a uuid", s.NodeID)
		}
		if s.CustomersTopic == s.EventsTopic {
			bad(key+".events_topic", "must differ from customers_topic")
		}
		if s.DeadLetterTopic == s.CustomersTopic || s.DeadLetterTopic == s.EventsTopic || s.DeadLetterTopic == s.OffsetsTopic {
			bad(key+".dead_letter_topic", "must differ from the customers, events and offsets topics")
		}
		if s.OffsetsTopic == s.CustomersTopic || s.OffsetsTopic == s.EventsTopic {
			bad(key+".offsets_topic", "must differ from customers_topic and events_topic")
		}
		if s.PollInterval < 0 {
			bad(key+".poll_interval", "must not be negative")
		}
		if s.Retry.Initial > s.Retry.Max {
			bad(key+".retry.initial", "must not exceed retry.max")
		}
	}
	if len(c.Sinks)+len(c.Sources) == 0 {
		bad("sinks", "no sinks and no sources: nothing to run")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}
