package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration. Its own keys are the generic ones;
// the top-level sections of components (an API's settings) are in
// Sections, and the block of a sink's or a source's type in its Settings.
type Config struct {
	Kafka Kafka `yaml:"kafka"`
	HTTP  HTTP  `yaml:"http"`
	Log   Log   `yaml:"log"`
	// Sections are the registered top-level sections the file has, by key
	// (contacthub, ups, enablenow), each a *S of its Section[S]; read one
	// with SectionOf.
	Sections map[string]any `yaml:"-"`
	Sinks    []Sink         `yaml:"sinks"`
	Sources  []Source       `yaml:"sources"`
	// Dir is the directory of the file Load read: relative mapping_file
	// paths are read from it. Empty: the working directory.
	Dir string `yaml:"-"`
}

// Kafka is how to reach the brokers.
type Kafka struct {
	Brokers []string `yaml:"brokers"`
	// SessionTimeout and HeartbeatInterval tune consumer-group failover.
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// CreateTopics creates missing dead-letter, results and offset topics at
	// start, and waits until their partitions have leaders.
	CreateTopics *bool `yaml:"create_topics"`
	// Partitions of the topics it creates.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of the topics it creates: 1 suits a one-broker dev
	// cluster; set 3 (and min_insync_replicas 2) on a production cluster.
	// 0 takes the brokers' default.replication.factor.
	ReplicationFactor int `yaml:"replication_factor"`
	// MinInsyncReplicas of the topics it creates; 0 leaves the brokers'.
	MinInsyncReplicas int `yaml:"min_insync_replicas"`
	// ClientID names the process to the brokers.
	ClientID string `yaml:"client_id"`
	// Compression of what the connector produces: none, gzip, snappy,
	// lz4, zstd.
	Compression string `yaml:"compression"`
	// Acks the producers wait for: all (default), 1 or 0.
	Acks string    `yaml:"acks"`
	TLS  KafkaTLS  `yaml:"tls"`
	SASL KafkaSASL `yaml:"sasl"`
}

// KafkaTLS encrypts every Kafka connection of the process.
type KafkaTLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the brokers' CAs; empty trusts the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile, both or neither: mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string `yaml:"server_name"`
	// MinVersion: 1.2 (default) or 1.3.
	MinVersion string `yaml:"min_version"`
	// InsecureSkipVerify trusts any certificate; only when set explicitly,
	// and the connector warns at every start.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// KafkaSASL authenticates every Kafka connection of the process.
type KafkaSASL struct {
	// Mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
}

// HTTP is the operations endpoint: /metrics, /healthz, /readyz.
type HTTP struct {
	Listen string `yaml:"listen"`
	// PProf serves net/http/pprof under /debug/pprof/ on the same
	// listener, for profiling (make profile); off unless set, since a
	// profile request costs CPU and shows the program's internals.
	PProf bool `yaml:"pprof"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// Sink is one sink pipeline: the keys every sink has, and the settings of
// its type.
type Sink struct {
	Name string `yaml:"name"`
	// Type is a registered sink type (SinkTypes).
	Type            string   `yaml:"type"`
	Topics          []string `yaml:"topics"`
	GroupID         string   `yaml:"group_id"`
	DeadLetterTopic string   `yaml:"dead_letter_topic"`
	// StartFrom is where a new group starts: earliest or latest.
	StartFrom     string        `yaml:"start_from"`
	Concurrency   Concurrency   `yaml:"concurrency"`
	MaxInFlight   int           `yaml:"max_in_flight"`
	Batch         Batch         `yaml:"batch"`
	Retry         Retry         `yaml:"retry"`
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	Health        Health        `yaml:"health"`
	// Mapping is a jq program that turns each record read into the records
	// the sink's API takes: no output filters the record, several fan out
	// (package mapping). MappingFile reads the program from a file
	// instead (a relative path is relative to the config file). Neither: records are
	// the API's bodies as they are.
	Mapping     string `yaml:"mapping"`
	MappingFile string `yaml:"mapping_file"`

	// Settings is the type's own block (sinks[i].ups for type ups), a *S
	// of its SinkType[S]: nil until Defaults when the file has no block.
	Settings any `yaml:"-"`
}

// Concurrency is how many API calls a sink has in flight: a number
// (`concurrency: 128`), `auto` (adaptive between the type's bounds), or
// adaptive between given bounds (`concurrency: {min: 8, max: 512}`).
type Concurrency struct {
	Auto     bool
	Fixed    int
	Min, Max int
}

// Limit is the most calls in flight: Fixed, or Max when adaptive.
func (c Concurrency) Limit() int {
	if c.Auto {
		return c.Max
	}
	return c.Fixed
}

func (c Concurrency) String() string {
	if c.Auto {
		return fmt.Sprintf("auto (%d..%d)", c.Min, c.Max)
	}
	return strconv.Itoa(c.Fixed)
}

// UnmarshalYAML reads a number, "auto", or {min, max}.
func (c *Concurrency) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind == yaml.ScalarNode && n.Value == "auto":
		*c = Concurrency{Auto: true}
		return nil
	case n.Kind == yaml.ScalarNode:
		if n.Tag == "!!float" {
			return fmt.Errorf("line %d: concurrency %s is not a whole number", n.Line, n.Value)
		}
		v, err := strconv.Atoi(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: concurrency %q is not a number, auto, or {min, max}", n.Line, n.Value)
		}
		*c = Concurrency{Fixed: v}
		return nil
	case n.Kind == yaml.MappingNode:
		var b struct {
			Min int `yaml:"min"`
			Max int `yaml:"max"`
		}
		if err := n.Decode(&b); err != nil {
			return err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "min" && k != "max" {
				return fmt.Errorf("line %d: concurrency.%s: unknown key (min, max)", n.Content[i].Line, k)
			}
		}
		*c = Concurrency{Auto: true, Min: b.Min, Max: b.Max}
		return nil
	}
	return fmt.Errorf("line %d: concurrency is a number, auto, or {min, max}", n.Line)
}

// MappingSource is the sink's mapping program and its name for errors
// (the key, or the file it was read from); src is "" when the sink has
// none. Only reading mapping_file can fail.
func (s *Sink) MappingSource() (name, src string, err error) {
	if s.MappingFile != "" {
		b, err := os.ReadFile(s.MappingFile)
		if err != nil {
			return s.MappingFile, "", err
		}
		return s.MappingFile, string(b), nil
	}
	return "mapping", s.Mapping, nil
}

// Batch shapes the batches a sink receives.
type Batch struct {
	MaxRecords int           `yaml:"max_records"`
	Linger     time.Duration `yaml:"linger"`
}

// Health says when a sink's pipeline is not ready although it runs
// (/readyz 503 with the reason).
type Health struct {
	// Interval between probes of the brokers (the group's lag).
	Interval time.Duration `yaml:"interval"`
	// BrokerUnreachableAfter: Kafka silent this long.
	BrokerUnreachableAfter time.Duration `yaml:"broker_unreachable_after"`
	// FailingAfter: every delivery attempt failing this long.
	FailingAfter time.Duration `yaml:"failing_after"`
	// StallAfter: a record unfinished this long.
	StallAfter time.Duration `yaml:"stall_after"`
}

// Retry is the back-off between attempts.
type Retry struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
	// MaxElapsed: after retrying this long, dead-letter. Unset (0) takes
	// the default; a negative value retries forever.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// Source is one source pipeline. Its keys besides name and type are its
// type's (sources[i].page_size for type contacthub-updates).
type Source struct {
	Name string `yaml:"name"`
	// Type is a registered source type (SourceTypes).
	Type string `yaml:"type"`
	// Settings are the type's keys, a *S of its SourceType[S]: nil until
	// Defaults when the file sets none.
	Settings any `yaml:"-"`
}

// Load reads, expands, decodes and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(b, os.LookupEnv, filepath.Dir(path))
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Parse decodes a config document, applies the defaults and validates it.
// ${VAR} and ${VAR:-default} are expanded in scalar values (never in keys or
// comments); an unset VAR without a default is an error naming it. Unknown
// keys are errors. The sections and types of components are those
// registered (package service registers them).
func Parse(doc []byte, lookup func(string) (string, bool)) (*Config, error) {
	return parse(doc, lookup, "")
}

// parse is Parse of a file read from dir ("" for none).
func parse(doc []byte, lookup func(string) (string, bool), dir string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var errs []error
	expand(&root, lookup, &errs)
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	// yaml.Node.Decode has no strict mode, so unknown keys are found by
	// walking the document against the types it decodes into; the walk also
	// maps each value's line to its key path, so type errors can name the
	// key. The blocks components own are taken out of the tree first, each
	// to be checked against and decoded into its component's struct.
	blocks := takeBlocks(&root, &errs)
	lines := map[int]string{}
	checkKeys(&root, reflect.TypeOf(Config{}), "", lines, &errs)
	for _, b := range blocks {
		checkKeys(b.node, b.kind.typ, b.key, lines, &errs)
	}
	// Unknown keys and values of the wrong type do not stop the run: what
	// decoded is validated too, so that one run names every bad key.
	var c Config
	if len(root.Content) > 0 {
		if err := root.Decode(&c); err != nil {
			errs = append(errs, errors.New(nameLines(err.Error(), lines)))
		}
	}
	values := make([]any, len(blocks))
	for i, b := range blocks {
		v, err := b.kind.decode(b.node)
		if err != nil {
			errs = append(errs, errors.New(nameLines(err.Error(), lines)))
		}
		values[i] = v
	}
	for i, b := range blocks {
		if values[i] != nil {
			b.attach(&c, values[i])
		}
	}
	c.Dir = dir
	for i := range c.Sinks {
		if f := c.Sinks[i].MappingFile; f != "" && dir != "" && !filepath.IsAbs(f) {
			c.Sinks[i].MappingFile = filepath.Join(dir, f)
		}
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		if len(errs) == 0 {
			return nil, err
		}
		errs = append(errs, errors.Unwrap(err))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return &c, nil
}

// block is a part of the document a component owns, taken out of the tree
// to be decoded into the component's struct.
type block struct {
	key    string // its key path, e.g. "sinks[1].ups"
	node   *yaml.Node
	kind   *kind
	attach func(c *Config, v any)
}

// takeBlocks takes out of the document the registered top-level sections,
// the block of each sink's type and the type's keys of each source. A sink
// holding the block of another type is an error; the blocks and keys of a
// sink or source of no registered type are dropped, as Validate reports the
// type.
func takeBlocks(root *yaml.Node, errs *[]error) []block {
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) > 0 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return nil
	}
	var out []block
	top.Content = filterPairs(top.Content, func(k, v *yaml.Node) bool {
		sk := lookupSection(k.Value)
		if sk == nil {
			return true
		}
		key := k.Value
		out = append(out, block{key: key, node: v, kind: &sk.kind, attach: func(c *Config, x any) {
			if c.Sections == nil {
				c.Sections = map[string]any{}
			}
			c.Sections[key] = x
		}})
		return false
	})
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if v.Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range v.Content {
			if item.Kind != yaml.MappingNode {
				continue
			}
			switch k.Value {
			case "sinks":
				out = append(out, takeSinkBlock(j, item, errs)...)
			case "sources":
				out = append(out, takeSourceKeys(j, item)...)
			}
		}
	}
	return out
}

func takeSinkBlock(i int, item *yaml.Node, errs *[]error) []block {
	prefix := "sinks[" + strconv.Itoa(i) + "]"
	sk := lookupSink(scalarOf(item, "type"))
	var out []block
	item.Content = filterPairs(item.Content, func(k, v *yaml.Node) bool {
		types := blockTypes(k.Value)
		if sinkKeys[k.Value] || len(types) == 0 {
			return true // a common key, or an unknown one checkKeys reports
		}
		switch {
		case sk != nil && sk.section == k.Value:
			out = append(out, block{key: prefix + "." + k.Value, node: v, kind: &sk.kind, attach: func(c *Config, x any) {
				if i < len(c.Sinks) {
					c.Sinks[i].Settings = x
				}
			}})
		case sk != nil:
			*errs = append(*errs, &FieldError{Key: prefix + "." + k.Value,
				Reason: fmt.Sprintf("only sinks of type %s take this section", strings.Join(types, " or "))})
		}
		return false
	})
	return out
}

func takeSourceKeys(i int, item *yaml.Node) []block {
	sk := lookupSource(scalarOf(item, "type"))
	own := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: item.Line, Column: item.Column}
	item.Content = filterPairs(item.Content, func(k, v *yaml.Node) bool {
		if sourceKeys[k.Value] {
			return true
		}
		own.Content = append(own.Content, k, v)
		return false
	})
	if sk == nil {
		return nil
	}
	return []block{{key: "sources[" + strconv.Itoa(i) + "]", node: own, kind: &sk.kind, attach: func(c *Config, x any) {
		if i < len(c.Sources) {
			c.Sources[i].Settings = x
		}
	}}}
}

// filterPairs keeps the key-value pairs of a mapping's content for which
// keep is true.
func filterPairs(content []*yaml.Node, keep func(k, v *yaml.Node) bool) []*yaml.Node {
	out := content[:0:0]
	for i := 0; i+1 < len(content); i += 2 {
		if keep(content[i], content[i+1]) {
			out = append(out, content[i], content[i+1])
		}
	}
	return out
}

// scalarOf is the scalar value of key in a mapping, or "".
func scalarOf(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}

func expand(n *yaml.Node, lookup func(string) (string, bool), errs *[]error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := lookup(m[1]); ok && v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			*errs = append(*errs, fmt.Errorf("line %d: environment variable %s is not set", n.Line, m[1]))
			return ""
		})
		// An expanded value is data, not YAML: keep it a string.
		if n.Tag == "" || n.Tag == "!!str" {
			n.Style = yaml.DoubleQuotedStyle
		}
		if looksNumeric(n.Value) || n.Value == "true" || n.Value == "false" {
			n.Style = 0
			n.Tag = ""
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 { // values only: keys are not expanded
			expand(n.Content[i], lookup, errs)
		}
	default:
		for _, c := range n.Content {
			expand(c, lookup, errs)
		}
	}
}

func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

var yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkKeys reports keys that name no field of t, as FieldErrors
// "path: unknown key (line N)".
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[int]string, errs *[]error) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKeys(c, t, path, lines, errs)
		}
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		return
	}
	if n.Kind == yaml.ScalarNode {
		if msg := scalarProblem(n, t); msg != "" {
			*errs = append(*errs, &FieldError{Key: path, Reason: fmt.Sprintf("%s (line %d)", msg, n.Line)})
		}
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if path != "" {
				key = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &FieldError{Key: key, Reason: fmt.Sprintf("unknown key (line %d)", k.Line)})
				continue
			}
			lines[v.Line] = key
			checkKeys(v, ft, key, lines, errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			key := path + "[" + strconv.Itoa(i) + "]"
			if _, seen := lines[c.Line]; !seen {
				lines[c.Line] = key
			}
			checkKeys(c, t.Elem(), key, lines, errs)
		}
	}
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// nameLines turns yaml's "line N: cannot unmarshal ..." into "key (line N): ...".
func nameLines(msg string, lines map[int]string) string {
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:\n  ", "")
	return lineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(lineRE.FindStringSubmatch(m)[1])
		if key, ok := lines[n]; ok {
			return key + " (line " + strconv.Itoa(n) + "): "
		}
		return m
	})
}

var durationType = reflect.TypeOf(time.Duration(0))

// scalarProblem is what yaml would accept silently but the key cannot
// mean: a fraction cut to a whole number, a duration without a unit.
func scalarProblem(n *yaml.Node, t reflect.Type) string {
	switch {
	case t == durationType:
		if n.Tag == "!!int" || n.Tag == "!!float" {
			if n.Value == "0" {
				return ""
			}
			return fmt.Sprintf("%s has no unit (write 10s, 500ms, 5m)", n.Value)
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if n.Tag == "!!float" {
			return fmt.Sprintf("%s is not a whole number", n.Value)
		}
	}
	return ""
}
