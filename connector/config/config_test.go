package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/service"
)

var env = map[string]string{"CONTACTHUB_TOKEN": "ch-SECRET", "UPS_CLIENT_SECRET": "ups-SECRET"}

func lookup(k string) (string, bool) { v, ok := env[k]; return v, ok }

// Sections, sink and source settings, as the components registered them.
func contacthubOf(c *config.Config) *service.ContacthubConfig {
	return config.SectionOf[service.ContacthubConfig](c, "contacthub")
}
func upsOf(c *config.Config) *service.UPSConfig { return config.SectionOf[service.UPSConfig](c, "ups") }
func enablenowOf(c *config.Config) *service.EnableNowConfig {
	return config.SectionOf[service.EnableNowConfig](c, "enablenow")
}
func upsSinkOf(s config.Sink) *service.UPSSinkConfig { return s.Settings.(*service.UPSSinkConfig) }
func enablenowSinkOf(s config.Sink) *service.EnableNowSinkConfig {
	return s.Settings.(*service.EnableNowSinkConfig)
}
func updatesOf(s config.Source) *service.UpdatesSourceConfig {
	return s.Settings.(*service.UpdatesSourceConfig)
}

func full(t *testing.T) string {
	b, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFullConfigLoadsWithDefaults(t *testing.T) {
	c, err := config.Parse([]byte(full(t)), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if contacthubOf(c).Token.Value() != "ch-SECRET" || enablenowOf(c).Token.Value() != "dev-token" {
		t.Fatal("secrets not expanded")
	}
	if c.Sinks[0].DeadLetterTopic != "events.dlq" || upsSinkOf(c.Sinks[1]).ResultsTopic != "segments.results" || upsOf(c).MaxBodyBytes != 51200 {
		t.Fatalf("defaults not applied: %+v", c.Sinks)
	}
	if en := enablenowSinkOf(c.Sinks[2]); en.MaxMonitoredJobs != 10000 || en.MonitorTimeout != time.Hour || len(enablenowOf(c).TerminalStatuses) != 3 {
		t.Fatalf("enablenow defaults not applied: %+v %+v", en, enablenowOf(c))
	}
	if updatesOf(c.Sources[0]).PageSize != 4000 || contacthubOf(c).Paths.Updates != "/workspaces/{workspaceId}/updates" {
		t.Fatal("source defaults not applied")
	}
}

// An unset max_elapsed takes the default; a negative one means forever and
// is kept as written.
func TestRetryMaxElapsedForever(t *testing.T) {
	doc := strings.Replace(full(t), "    topics: [web.events]\n", "    topics: [web.events]\n    retry: {max_elapsed: -1s}\n", 1)
	c, err := config.Parse([]byte(doc), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sinks[0].Retry.MaxElapsed; got >= 0 {
		t.Errorf("events max_elapsed %s, want negative (forever)", got)
	}
	if got := c.Sinks[1].Retry.MaxElapsed; got != 15*time.Minute {
		t.Errorf("segments max_elapsed %s, want the 15m default", got)
	}
}

// Secrets must not show up however the config is printed or logged.
func TestSecretsNeverPrint(t *testing.T) {
	c, err := config.Parse([]byte(full(t)), lookup)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", c, "token", contacthubOf(c).Token)
	js, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", c, *contacthubOf(c), *upsOf(c)), string(js), buf.String()} {
		if strings.Contains(out, "SECRET") {
			t.Fatalf("secret printed: %s", out)
		}
	}
}

func TestSecretFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	os.WriteFile(p, []byte("file-SECRET\n"), 0o600)
	doc := strings.Replace(full(t), "${CONTACTHUB_TOKEN}", "file:"+p, 1)
	c, err := config.Parse([]byte(doc), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if contacthubOf(c).Token.Value() != "file-SECRET" {
		t.Fatalf("token %q", contacthubOf(c).Token.Value())
	}
}

func TestBadConfigsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		// Unknown keys are errors, not silently ignored (a typo would disable a setting).
		{"unknown top-level key", "log:", "logs:\n  level: info\nlog:", "logs: unknown key"},
		{"unknown nested key", "  api_key: \"608\"", "  api_key: \"608\"\n  apikey: x", "ups.apikey: unknown key"},
		{"unset env var", "${UPS_CLIENT_SECRET}", "${NOPE}", "environment variable NOPE is not set"},
		{"workspace not uuid", "2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e", "ws1", "contacthub.workspace_id: \"ws1\" is not a uuid"},
		{"bad collection", "collection: rr-segments", "collection: segments", "sinks[1].ups.collection"},
		{"grouped outside userlinking", "collection: rr-segments", "collection: rr-segments\n      linking_type: grouped", "sinks[1].ups.linking_type: grouped applies to the userlinking collection only"},
		{"unknown sink type", "type: enablenow\n", "type: enablenowx\n", "sinks[2].type"},
		{"page too large", "type: contacthub-updates", "type: contacthub-updates\n    page_size: 5000", "sources[0].page_size: 5000 is not in 1..4000"},
		{"too many records per request", "  api_key: \"608\"", "  api_key: \"608\"\n  max_records: 2000", "ups.max_records"},
		{"body above the API limit", "  api_key: \"608\"", "  api_key: \"608\"\n  max_body_bytes: 60000", "ups.max_body_bytes"},
		{"duplicate names", "name: segments", "name: events", "sinks[1].name: \"events\" is used twice"},
		{"dlq equals input", "topics: [web.events]", "topics: [web.events]\n    dead_letter_topic: web.events", "sinks[0].dead_letter_topic"},
		{"bad broker", "localhost:9092", "localhost", "kafka.brokers[0]"},
		{"bad start", "type: contacthub-updates", "type: contacthub-updates\n    start: yesterday", "sources[0].start"},
		// The offsets record would be read as a customer, and customers as offsets.
		{"offsets topic is an output", "type: contacthub-updates", "type: contacthub-updates\n    offsets_topic: contacthub.customers", "sources[0].offsets_topic"},
		{"source dead letters into its output", "type: contacthub-updates", "type: contacthub-updates\n    dead_letter_topic: contacthub.events", "sources[0].dead_letter_topic"},
		{"source retry inverted", "type: contacthub-updates", "type: contacthub-updates\n    retry: {initial: 1m, max: 1s}", "sources[0].retry.initial"},
		{"bad url", "https://qa-gateway.richrelevance.com", "qa-gateway", "ups.base_url"},
		// A retry after the API forgot the idempotency key could create a second job.
		{"enablenow retries outlast the idempotency window", "      monitor_jobs: true", "      monitor_jobs: true\n      idempotency_window: 10m", "sinks[2].retry.max_elapsed: 15m0s must be above 0 and below enablenow.idempotency_window"},
		{"enablenow monitor gives up before the first read", "      monitor_jobs: true", "      monitor_jobs: true\n      poll_interval: 2s\n      monitor_timeout: 1s", "sinks[2].enablenow.monitor_timeout"},
		{"enablenow follows no job", "      monitor_jobs: true", "      monitor_jobs: true\n      max_monitored_jobs: -1", "sinks[2].enablenow.max_monitored_jobs"},
		{"enablenow empty terminal status", "  token: ${ENABLENOW_TOKEN:-dev-token}", "  token: ${ENABLENOW_TOKEN:-dev-token}\n  terminal_statuses: [Completed, \"\"]", "enablenow.terminal_statuses[1]"},
		{"wrong type for number", "  api_key: \"608\"", "  api_key: \"608\"\n  max_records: many", "ups.max_records (line 16)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := full(t)
			if !strings.Contains(doc, tc.from) {
				t.Fatalf("test setup: %q not in the document", tc.from)
			}
			doc = strings.Replace(doc, tc.from, tc.to, 1)
			_, err := config.Parse([]byte(doc), lookup)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

// The shipped connector configs (deploy/connector*.yaml) must stay valid.
func TestDeployConfigsValidate(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/connector*.yaml")
	if len(files) == 0 {
		t.Fatal("no deploy configs found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Every variable is set, to a value of the shape its name says.
		plausible := func(name string) (string, bool) {
			switch {
			case strings.HasSuffix(name, "_URL"):
				return "https://api.example.com", true
			case strings.HasSuffix(name, "WORKSPACE_ID"):
				return "2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e", true
			case name == "KAFKA_BROKERS":
				return "kafka:9092", true
			}
			return "x", true
		}
		if _, err := config.Parse(b, plausible); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
