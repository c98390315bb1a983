package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration.
type Config struct {
	Kafka      Kafka       `yaml:"kafka"`
	HTTP       HTTP        `yaml:"http"`
	Log        Log         `yaml:"log"`
	Contacthub *Contacthub `yaml:"contacthub"`
	UPS        *UPS        `yaml:"ups"`
	EnableNow  *EnableNow  `yaml:"enablenow"`
	Sinks      []Sink      `yaml:"sinks"`
	Sources    []Source    `yaml:"sources"`
}

// Kafka is how to reach the brokers.
type Kafka struct {
	Brokers []string `yaml:"brokers"`
	// SessionTimeout and HeartbeatInterval tune consumer-group failover.
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// CreateTopics creates missing dead-letter, results and offset topics at start.
	CreateTopics *bool `yaml:"create_topics"`
	// Partitions of the topics it creates.
	Partitions int `yaml:"partitions"`
}

// HTTP is the operations endpoint: /metrics, /healthz, /readyz.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// Contacthub is the Contacthub API.
type Contacthub struct {
	BaseURL     string        `yaml:"base_url"`
	WorkspaceID string        `yaml:"workspace_id"`
	Token       Secret        `yaml:"token"`
	Timeout     time.Duration `yaml:"timeout"`
	// Throttle: at start the connector reads the workspace throttling and
	// paces itself at Headroom of it; 0 means "read it", a positive value
	// overrides what the API says (requests per minute).
	MaxRequestsPerMinute int             `yaml:"max_requests_per_minute"`
	Headroom             float64         `yaml:"headroom"`
	Paths                ContacthubPaths `yaml:"paths"`
}

// ContacthubPaths are the API paths; {workspaceId} is replaced.
type ContacthubPaths struct {
	Events     string `yaml:"events"`
	Throttling string `yaml:"throttling"`
	Updates    string `yaml:"updates"`
	LastOffset string `yaml:"last_offset"`
}

// Sink is one sink pipeline.
type Sink struct {
	Name string `yaml:"name"`
	// Type: contacthub-events, ups, enablenow.
	Type            string   `yaml:"type"`
	Topics          []string `yaml:"topics"`
	GroupID         string   `yaml:"group_id"`
	DeadLetterTopic string   `yaml:"dead_letter_topic"`
	// StartFrom is where a new group starts: earliest or latest.
	StartFrom     string        `yaml:"start_from"`
	Concurrency   int           `yaml:"concurrency"`
	MaxInFlight   int           `yaml:"max_in_flight"`
	Batch         Batch         `yaml:"batch"`
	Retry         Retry         `yaml:"retry"`
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`

	UPS       *UPSSink       `yaml:"ups"`
	EnableNow *EnableNowSink `yaml:"enablenow"`
}

// Batch shapes the batches a sink receives.
type Batch struct {
	MaxRecords int           `yaml:"max_records"`
	Linger     time.Duration `yaml:"linger"`
}

// Retry is the back-off between attempts.
type Retry struct {
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
	// MaxElapsed: after retrying this long, dead-letter. Unset (0) takes
	// the default; a negative value retries forever.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// Sink and source types.
const (
	SinkContacthubEvents    = "contacthub-events"
	SinkUPS                 = "ups"
	SinkEnableNow           = "enablenow"
	SourceContacthubUpdates = "contacthub-updates"
)

// Load reads, expands, decodes and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, os.LookupEnv)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Parse decodes a config document. ${VAR} and ${VAR:-default} are expanded in
// scalar values (never in keys or comments); an unset VAR without a default is
// an error naming it. Unknown keys are errors.
func Parse(doc []byte, lookup func(string) (string, bool)) (*Config, error) {
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
	// walking the document against the Config type; the walk also maps each
	// value's line to its key path, so type errors can name the key.
	lines := map[int]string{}
	checkKeys(&root, reflect.TypeOf(Config{}), "", lines, &errs)
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	var c Config
	if len(root.Content) > 0 {
		if err := root.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %s", nameLines(err.Error(), lines))
		}
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
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

// checkKeys reports keys that name no field, as "path: unknown key".
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
				*errs = append(*errs, fmt.Errorf("%s: unknown key (line %d)", key, k.Line))
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
