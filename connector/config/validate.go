package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/streams"
)

// Defaults fills every unset value: the generic ones here, and through the
// registry those of each registered section and of each sink's and
// source's type, which live in the component's file (package service) and
// nowhere else. It may be called more than once.
func (c *Config) Defaults() {
	// Kafka Connect's: a crashed process's partitions wait this long
	// (streams.DefaultSessionTimeout says why).
	Default(&c.Kafka.SessionTimeout, streams.DefaultSessionTimeout)
	Default(&c.Kafka.HeartbeatInterval, streams.DefaultHeartbeatInterval)
	if c.Kafka.CreateTopics == nil {
		t := true
		c.Kafka.CreateTopics = &t
	}
	Default(&c.Kafka.Partitions, 4)
	Default(&c.Kafka.Compression, "none")
	Default(&c.Kafka.Acks, "all")
	Default(&c.Kafka.ClientID, "contactlab-connector")
	Default(&c.HTTP.Listen, ":8080")
	Default(&c.Log.Level, "info")
	Default(&c.Log.Format, "json")
	for key, v := range c.Sections {
		if k := lookupSection(key); k != nil {
			k.defaults(v)
		}
	}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		// The type's first, so that it may choose common values too.
		if k := lookupSink(s.Type); k != nil {
			k.defaults(s)
		}
		Default(&s.GroupID, "connector-"+s.Name)
		Default(&s.DeadLetterTopic, s.Name+".dlq")
		Default(&s.StartFrom, "earliest")
		Default(&s.Retry.Initial, 100*time.Millisecond)
		Default(&s.Retry.Max, 10*time.Second)
		Default(&s.Retry.MaxElapsed, 15*time.Minute)
		Default(&s.ShutdownGrace, 10*time.Second)
		Default(&s.Batch.Linger, 5*time.Millisecond)
		Default(&s.Health.Interval, 5*time.Second)
		Default(&s.Health.BrokerUnreachableAfter, 30*time.Second)
		Default(&s.Health.FailingAfter, time.Minute)
		Default(&s.Health.StallAfter, 5*time.Minute)
	}
	for i := range c.Sources {
		if k := lookupSource(c.Sources[i].Type); k != nil {
			k.defaults(&c.Sources[i])
		}
	}
}

// WithDefaults is a copy of c with Defaults applied; c is left as it was
// (the settings of sections, sinks and sources are copied before defaults
// fill them).
func (c *Config) WithDefaults() *Config {
	d := *c
	if c.Sections != nil {
		d.Sections = make(map[string]any, len(c.Sections))
		for key, v := range c.Sections {
			if k := lookupSection(key); k != nil {
				v = k.clone(v)
			}
			d.Sections[key] = v
		}
	}
	d.Sinks = slices.Clone(c.Sinks)
	for i := range d.Sinks {
		if k := lookupSink(d.Sinks[i].Type); k != nil {
			d.Sinks[i].Settings = k.clone(d.Sinks[i].Settings)
		}
	}
	d.Sources = slices.Clone(c.Sources)
	for i := range d.Sources {
		if k := lookupSource(d.Sources[i].Type); k != nil {
			d.Sources[i].Settings = k.clone(d.Sources[i].Settings)
		}
	}
	d.Defaults()
	return &d
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// Validate checks every value as Defaults completes it, whether or not
// Defaults ran (c itself is not changed), and reports every problem: a
// *FieldError each ("key: reason"), joined under a "config: " prefix.
func (c *Config) Validate() error {
	p := newProblems()
	if c == nil {
		p.Add("config", "none given")
	} else {
		c.WithDefaults().validate(p)
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// validate checks c, defaults applied.
func (c *Config) validate(p Problems) {
	if len(c.Kafka.Brokers) == 0 {
		p.Add("kafka.brokers", "at least one broker is needed")
	}
	for i, b := range c.Kafka.Brokers {
		if !strings.Contains(b, ":") {
			p.Add(fmt.Sprintf("kafka.brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if c.Kafka.HeartbeatInterval >= c.Kafka.SessionTimeout {
		p.Add("kafka.heartbeat_interval", "must be shorter than kafka.session_timeout")
	}
	p.Duration("kafka.session_timeout", c.Kafka.SessionTimeout, time.Second, 30*time.Minute)
	p.Duration("kafka.heartbeat_interval", c.Kafka.HeartbeatInterval, 10*time.Millisecond, 10*time.Minute)
	p.InRange("kafka.partitions", c.Kafka.Partitions, 1, 10000, "")
	p.InRange("kafka.replication_factor", c.Kafka.ReplicationFactor, 0, 32, "0: the brokers' default")
	p.InRange("kafka.min_insync_replicas", c.Kafka.MinInsyncReplicas, 0, 32, "0: the brokers' default")
	if c.Kafka.ReplicationFactor > 0 && c.Kafka.MinInsyncReplicas > c.Kafka.ReplicationFactor {
		p.Add("kafka.min_insync_replicas", "%d exceeds kafka.replication_factor %d: no write could succeed", c.Kafka.MinInsyncReplicas, c.Kafka.ReplicationFactor)
	}
	p.OneOf("kafka.compression", c.Kafka.Compression, "none", "gzip", "snappy", "lz4", "zstd")
	p.OneOf("kafka.acks", c.Kafka.Acks, "all", "1", "0")
	validateKafkaSecurity(p.Under("kafka"), c.Kafka)
	validateListen(p, c.HTTP.Listen)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.Add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		p.Add("log.format", "%q is not json or text", c.Log.Format)
	}
	keys := make([]string, 0, len(c.Sections))
	for key := range c.Sections {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		k := lookupSection(key)
		switch {
		case k == nil:
			p.Add(key, "not a registered section (%s)", strings.Join(Sections(), ", "))
		case !k.is(c.Sections[key]):
			p.Add(key, "holds a %T, not the %s its component decodes", c.Sections[key], k.typeName())
		default:
			k.validate(p.Under(key), c.Sections[key])
		}
	}
	names := map[string]bool{}
	checkName := func(p Problems, name string) {
		if !nameRE.MatchString(name) {
			p.Add("name", "%q must be letters, digits, '.', '_' or '-'", name)
			return
		}
		if names[name] {
			p.Add("name", "%q is used twice", name)
		}
		names[name] = true
	}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		p := p.Under(fmt.Sprintf("sinks[%d]", i))
		checkName(p, s.Name)
		c.validateSink(p, s)
	}
	c.validateSharedGroups(p)
	for i := range c.Sources {
		src := &c.Sources[i]
		p := p.Under(fmt.Sprintf("sources[%d]", i))
		checkName(p, src.Name)
		k := lookupSource(src.Type)
		switch {
		case k == nil:
			p.Add("type", "%q is not %s", src.Type, oneOf(SourceTypes()))
		case !k.is(src.Settings):
			p.Add("", "settings are a %T; sources of type %s take a %s", src.Settings, k.name, k.typeName())
		default:
			c.needs(p, k.name, k.needs)
			k.validate(p, c, src)
		}
	}
	if len(c.Sinks)+len(c.Sources) == 0 {
		p.Add("sinks", "no sinks and no sources: nothing to run")
	}
}

// validateSink checks the common keys of a sink, then its type's.
func (c *Config) validateSink(p Problems, s *Sink) {
	if len(s.Topics) == 0 {
		p.Add("topics", "at least one topic is needed")
	}
	for _, t := range s.Topics {
		if t == s.DeadLetterTopic {
			p.Add("dead_letter_topic", "must differ from the input topics")
		}
	}
	if s.StartFrom != "earliest" && s.StartFrom != "latest" {
		p.Add("start_from", "%q is not earliest or latest", s.StartFrom)
	}
	if s.Retry.Initial > s.Retry.Max {
		p.Add("retry.initial", "must not exceed retry.max")
	}
	p.Duration("retry.initial", s.Retry.Initial, time.Millisecond, time.Hour)
	p.Duration("retry.max", s.Retry.Max, time.Millisecond, 24*time.Hour)
	if s.Retry.MaxElapsed >= 0 { // negative: retry forever
		p.Duration("retry.max_elapsed", s.Retry.MaxElapsed, time.Millisecond, 30*24*time.Hour)
	}
	p.Duration("shutdown_grace", s.ShutdownGrace, 0, time.Hour)
	p.Duration("batch.linger", s.Batch.Linger, 0, time.Minute)
	p.Duration("health.interval", s.Health.Interval, 10*time.Millisecond, time.Hour)
	p.Duration("health.broker_unreachable_after", s.Health.BrokerUnreachableAfter, 10*time.Millisecond, 24*time.Hour)
	p.Duration("health.failing_after", s.Health.FailingAfter, 10*time.Millisecond, 24*time.Hour)
	p.Duration("health.stall_after", s.Health.StallAfter, 10*time.Millisecond, 30*24*time.Hour)
	validateMapping(p, s)
	k := lookupSink(s.Type)
	switch {
	case k == nil:
		// The type's defaults of concurrency, max_in_flight and batch are
		// not known: checking them would only repeat that the type is not.
		p.Add("type", "%q is not %s", s.Type, oneOf(SinkTypes()))
		return
	case !k.is(s.Settings):
		key := k.section
		if key == "" {
			key = "type"
		}
		p.Add(key, "settings are a %T; sinks of type %s take a %s", s.Settings, k.name, k.typeName())
		return
	}
	if s.Concurrency.Auto {
		p.InRange("concurrency.min", s.Concurrency.Min, 1, 4096, "")
		p.InRange("concurrency.max", s.Concurrency.Max, max(1, s.Concurrency.Min), 4096, "at least concurrency.min")
	} else {
		p.InRange("concurrency", s.Concurrency.Fixed, 1, 4096, "")
	}
	if s.Batch.MaxRecords < 1 {
		p.Add("batch.max_records", "must be at least 1")
	}
	p.InRange("max_in_flight", s.MaxInFlight, 1, 1_000_000, "")
	if s.MaxInFlight < s.Batch.MaxRecords {
		p.Add("max_in_flight", "%d is below batch.max_records (%d): a batch could never fill", s.MaxInFlight, s.Batch.MaxRecords)
	}
	c.needs(p, k.name, k.needs)
	k.validate(p, c, s)
}

// validateMapping compiles the sink's mapping, as the service will at
// start, naming the line and column of a syntax error.
func validateMapping(p Problems, s *Sink) {
	if s.Mapping != "" && s.MappingFile != "" {
		p.Add("mapping_file", "give mapping or mapping_file, not both")
		return
	}
	name, src, err := s.MappingSource()
	if err != nil {
		p.Add("mapping_file", "%v", err)
		return
	}
	if src == "" {
		if s.MappingFile != "" {
			p.Add("mapping_file", "%s is empty", s.MappingFile)
		}
		return
	}
	if _, err := mapping.Compile(name, src); err != nil {
		key := "mapping"
		if s.MappingFile != "" {
			key = "mapping_file"
		}
		var se *mapping.SyntaxError
		if errors.As(err, &se) && se.Line > 0 && s.MappingFile == "" {
			p.Add(key, "line %d, column %d of the program: %v", se.Line, se.Column, se.Err)
			return
		}
		if errors.As(err, &se) && se.Line > 0 {
			p.Add(key, "%s:%d:%d: %v", name, se.Line, se.Column, se.Err)
			return
		}
		p.Add(key, "%v", err)
	}
}

// needs reports each section a type needs that c does not have.
func (c *Config) needs(p Problems, typ string, sections []string) {
	for _, key := range sections {
		if c.Sections[key] == nil {
			p.Add("type", "%s needs the %s section", typ, key)
		}
	}
}

// validateSharedGroups reports two sinks that read one topic in one
// consumer group: the group would split the topic's records between them,
// and each would see only some, whatever their types.
func (c *Config) validateSharedGroups(p Problems) {
	type use struct {
		sink int
		name string
	}
	seen := map[[2]string]use{}
	for i, s := range c.Sinks {
		for _, t := range s.Topics {
			k := [2]string{s.GroupID, t}
			if first, ok := seen[k]; ok {
				p.Add(fmt.Sprintf("sinks[%d].group_id", i), "%q also reads topic %s for sink %q: a group shares a topic's records out among its members, so each sink would see only some; give each sink its own group_id", s.GroupID, t, first.name)
				continue
			}
			seen[k] = use{i, s.Name}
		}
	}
}

// validateKafkaSecurity checks the TLS and SASL keys; files are read at
// start by the service, where their errors name them too.
func validateKafkaSecurity(p Problems, k Kafka) {
	t := k.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		p.Add("tls.enabled", "must be true when other tls keys are set")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.Add("tls.cert_file", "give cert_file and key_file together (mutual TLS), or neither")
	}
	for key, f := range map[string]string{"tls.ca_file": t.CAFile, "tls.cert_file": t.CertFile, "tls.key_file": t.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			p.Add(key, "%v", err)
		}
	}
	if t.MinVersion != "" {
		p.OneOf("tls.min_version", t.MinVersion, "1.2", "1.3")
	}
	s := k.SASL
	if s.Mechanism == "" {
		if s.Username != "" || !s.Password.IsZero() {
			p.Add("sasl.mechanism", "must be set when a username or password is (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return
	}
	p.OneOf("sasl.mechanism", s.Mechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
	if s.Username == "" {
		p.Add("sasl.username", "must be set")
	}
	p.SecretSet("sasl.password", s.Password)
	if s.Mechanism == "PLAIN" && !t.Enabled {
		p.Add("sasl.mechanism", "PLAIN sends the password in the clear: enable kafka.tls")
	}
}

// validateListen reports an http.listen that cannot be listened on: not
// host:port, or a port outside 0..65535.
func validateListen(p Problems, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.Add("http.listen", "%q is not host:port (%v)", addr, err)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		p.Add("http.listen", "port %q is not a number in 0..65535", port)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		p.Add("http.listen", "host %q is not a host name or address", host)
	}
}
