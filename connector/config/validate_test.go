package config_test

import (
	"errors"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/service"
)

// base is a small valid config with every API section, a sink of each type
// and a source, in block style so that cases can edit single lines.
const base = `kafka:
  brokers: ["localhost:9092"]
contacthub:
  workspace_id: 2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e
  token: t
ups:
  api_key: "608"
  client_id: c
  client_secret: s
enablenow:
  token: t
sinks:
  - name: events
    type: contacthub-events
    topics: [web.events]
  - name: segments
    type: ups
    topics: [profiles.segments]
    ups:
      collection: rr-segments
  - name: categorization
    type: enablenow
    topics: [categorization.requests]
sources:
  - name: updates
    type: contacthub-updates
`

// sections is the part of base before the sinks: kafka and the API sections.
var sections = strings.Split(base, "sinks:\n")[0]

// edit is base with each from replaced (once) by the to that follows it.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	doc := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("test setup: %q not in the base config", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

// fieldErrors are the FieldErrors err holds, however wrapped and joined.
func fieldErrors(err error) []*config.FieldError {
	var out []*config.FieldError
	var walk func(error)
	walk = func(err error) {
		var fe *config.FieldError
		if errors.As(err, &fe) && err == error(fe) {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

func keysOf(fes []*config.FieldError) []string {
	keys := make([]string, 0, len(fes))
	for _, fe := range fes {
		keys = append(keys, fe.Key)
	}
	sort.Strings(keys)
	return keys
}

// TestValidateTable runs good and bad configs through Parse. A bad one must
// fail with a FieldError for each key in want (and, where exact, for no
// other): each case is one check that must not get lost.
func TestValidateTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		want  []string // keys; none: the config is valid
		exact bool     // want is every key reported
	}{
		// The base itself: every component's defaults make it valid.
		{name: "base", doc: base},
		// A config that only runs a source needs no sink, and the API
		// sections nothing uses are allowed (a deployment may switch sinks off).
		{name: "source only", doc: sections + "sources:\n  - {name: updates, type: contacthub-updates}\n"},
		// Flow style blocks decode like block style ones (deploy/ uses them).
		{name: "flow style sink block", doc: edit(t, "    ups:\n      collection: rr-segments", "    ups: {collection: userlinking, linking_type: grouped}")},
		// Retrying forever is allowed where no idempotency window bounds it.
		{name: "events retry forever", doc: edit(t, "    topics: [web.events]", "    topics: [web.events]\n    retry: {max_elapsed: -1s}")},

		// One run reports every bad key, across sections, sinks and sources,
		// not only the first.
		{name: "every bad key at once", doc: edit(t,
			"  token: t\nups:", "  token: t\n  headroom: 2\nups:",
			"  client_id: c", "  client_id: c\n  max_open_jobs: -1",
			"    type: contacthub-events", "    type: contacthub-events\n    concurrency: 5000",
			"      collection: rr-segments", "      collection: segments",
			"    type: contacthub-updates", "    type: contacthub-updates\n    entity: ORDER"),
			want:  []string{"contacthub.headroom", "sinks[0].concurrency", "sinks[1].ups.collection", "sources[0].entity", "ups.max_open_jobs"},
			exact: true},

		// Generic keys.
		{name: "no brokers", doc: edit(t, `  brokers: ["localhost:9092"]`, "  brokers: []"), want: []string{"kafka.brokers"}},
		// A heartbeat as long as the session would let a live member expire.
		{name: "heartbeat not below session", doc: edit(t, `  brokers: ["localhost:9092"]`, `  brokers: ["localhost:9092"]`+"\n  session_timeout: 1s\n  heartbeat_interval: 1s"), want: []string{"kafka.heartbeat_interval"}},
		{name: "log level", doc: base + "log: {level: loud}\n", want: []string{"log.level"}},
		{name: "log format", doc: base + "log: {format: xml}\n", want: []string{"log.format"}},
		// Nothing to run is a mistake, not an idle connector.
		{name: "nothing to run", doc: sections, want: []string{"sinks"}, exact: true},

		// API sections (their component's checks, keys named from the top).
		{name: "contacthub token unset", doc: edit(t, "  workspace_id: 2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e\n  token: t", "  workspace_id: 2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e"), want: []string{"contacthub.token"}},
		{name: "contacthub negative rate", doc: edit(t, "  token: t\nups:", "  token: t\n  max_requests_per_minute: -1\nups:"), want: []string{"contacthub.max_requests_per_minute"}},
		{name: "ups client id unset", doc: edit(t, "  client_id: c\n", ""), want: []string{"ups.client_id"}},
		{name: "ups api key unset", doc: edit(t, "  api_key: \"608\"\n", ""), want: []string{"ups.api_key"}},
		{name: "ups secret unset", doc: edit(t, "  client_secret: s\n", ""), want: []string{"ups.client_secret"}},
		// A headroom above 1 would pace above the API's limit: 429s.
		{name: "ups headroom", doc: edit(t, "  client_id: c", "  client_id: c\n  headroom: 1.5"), want: []string{"ups.headroom"}},
		{name: "ups rate", doc: edit(t, "  client_id: c", "  client_id: c\n  updates_per_second: -5"), want: []string{"ups.updates_per_second"}},
		// A job given up before its first status read always counts as FAILED.
		{name: "ups job timeout below poll", doc: edit(t, "  client_id: c", "  client_id: c\n  status_poll_interval: 2s\n  job_timeout: 1s"), want: []string{"ups.job_timeout"}},
		{name: "ups poll interval", doc: edit(t, "  client_id: c", "  client_id: c\n  status_poll_interval: -1s"), want: []string{"ups.status_poll_interval"}},
		// Without {id} every job's status would be read at one URL.
		{name: "enablenow status path", doc: edit(t, "enablenow:\n  token: t", "enablenow:\n  token: t\n  job_status_path: /jobs"), want: []string{"enablenow.job_status_path"}},
		{name: "enablenow token unset", doc: edit(t, "enablenow:\n  token: t", "enablenow:\n  base_url: https://e.example"), want: []string{"enablenow.token"}},
		{name: "enablenow url", doc: edit(t, "enablenow:\n  token: t", "enablenow:\n  token: t\n  base_url: ftp://e.example"), want: []string{"enablenow.base_url"}},

		// Common keys of a sink.
		{name: "sink name", doc: edit(t, "  - name: events", "  - name: ev/ents"), want: []string{"sinks[0].name"}},
		{name: "sink without topics", doc: edit(t, "    topics: [web.events]", "    topics: []"), want: []string{"sinks[0].topics"}},
		{name: "start from", doc: edit(t, "    topics: [web.events]", "    topics: [web.events]\n    start_from: middle"), want: []string{"sinks[0].start_from"}},
		// max_in_flight below a batch: the batcher would wait for ever.
		{name: "in flight below a batch", doc: edit(t, "    topics: [web.events]", "    topics: [web.events]\n    max_in_flight: 1\n    batch: {max_records: 2}"), want: []string{"sinks[0].max_in_flight"}},
		{name: "empty batch", doc: edit(t, "    topics: [web.events]", "    topics: [web.events]\n    batch: {max_records: -1}"), want: []string{"sinks[0].batch.max_records"}},
		{name: "sink retry inverted", doc: edit(t, "    topics: [web.events]", "    topics: [web.events]\n    retry: {initial: 1m, max: 1s}"), want: []string{"sinks[0].retry.initial"}},
		// A sink of a type whose API is not configured cannot build.
		{name: "events without contacthub", doc: strings.Replace(strings.Replace(base, "contacthub:\n  workspace_id: 2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e\n  token: t\n", "", 1), "sources:\n  - name: updates\n    type: contacthub-updates\n", "", 1),
			want: []string{"sinks[0].type"}, exact: true},
		{name: "ups sink without ups", doc: edit(t, "ups:\n  api_key: \"608\"\n  client_id: c\n  client_secret: s\n", ""), want: []string{"sinks[1].type"}, exact: true},
		{name: "enablenow sink without enablenow", doc: edit(t, "enablenow:\n  token: t\n", ""), want: []string{"sinks[2].type"}, exact: true},
		// A block of another type would be ignored silently otherwise.
		{name: "block of another type", doc: edit(t, "    topics: [categorization.requests]", "    topics: [categorization.requests]\n    ups: {collection: rr-segments}"), want: []string{"sinks[2].ups"}, exact: true},
		// An unknown type is named with the valid ones, not reported as its block's keys.
		{name: "unknown type with a block", doc: edit(t, "    type: ups", "    type: upsx"), want: []string{"sinks[1].type"}, exact: true},
		{name: "unknown key in a block", doc: edit(t, "      collection: rr-segments", "      collection: rr-segments\n      colection: x"), want: []string{"sinks[1].ups.colection"}, exact: true},

		// Sink types' own checks.
		{name: "ups sink without collection", doc: edit(t, "    ups:\n      collection: rr-segments\n", ""), want: []string{"sinks[1].ups.collection"}},
		{name: "ups linking type", doc: edit(t, "      collection: rr-segments", "      collection: userlinking\n      linking_type: loose"), want: []string{"sinks[1].ups.linking_type"}},
		{name: "ups job attempts", doc: edit(t, "      collection: rr-segments", "      collection: rr-segments\n      max_job_attempts: -1"), want: []string{"sinks[1].ups.max_job_attempts"}},
		// More records than a request may carry would be refused by the API.
		{name: "ups batch above the API", doc: edit(t, "    topics: [profiles.segments]", "    topics: [profiles.segments]\n    batch: {max_records: 1001}"), want: []string{"sinks[1].batch.max_records"}},
		// Retrying for ever outlasts the idempotency window: a second job.
		{name: "enablenow retry forever", doc: edit(t, "    topics: [categorization.requests]", "    topics: [categorization.requests]\n    retry: {max_elapsed: -1s}"), want: []string{"sinks[2].retry.max_elapsed"}},
		{name: "enablenow poll interval", doc: edit(t, "    topics: [categorization.requests]", "    topics: [categorization.requests]\n    enablenow: {poll_interval: -1s}"), want: []string{"sinks[2].enablenow.poll_interval"}},

		// The source type's own checks, its keys beside name and type.
		{name: "unknown source type", doc: edit(t, "    type: contacthub-updates", "    type: contacthub-changes\n    page_size: 10"), want: []string{"sources[0].type"}, exact: true},
		{name: "unknown source key", doc: edit(t, "    type: contacthub-updates", "    type: contacthub-updates\n    pagesize: 10"), want: []string{"sources[0].pagesize"}, exact: true},
		{name: "source without contacthub", doc: strings.Replace(strings.Replace(base, "contacthub:\n  workspace_id: 2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e\n  token: t\n", "", 1), "  - name: events\n    type: contacthub-events\n    topics: [web.events]\n", "", 1),
			want: []string{"sources[0].type"}, exact: true},
		// Names are unique across sinks and sources: metrics and units are keyed by them.
		{name: "source named like a sink", doc: edit(t, "  - name: updates", "  - name: events"), want: []string{"sources[0].name"}},
		{name: "node id", doc: edit(t, "    type: contacthub-updates", "    type: contacthub-updates\n    node_id: n1"), want: []string{"sources[0].node_id"}},
		{name: "events into customers", doc: edit(t, "    type: contacthub-updates", "    type: contacthub-updates\n    events_topic: contacthub.customers"), want: []string{"sources[0].events_topic"}},
		{name: "source poll interval", doc: edit(t, "    type: contacthub-updates", "    type: contacthub-updates\n    poll_interval: -1s"), want: []string{"sources[0].poll_interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.doc), lookup)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("bad config accepted, want errors for %v", tc.want)
			}
			got := keysOf(fieldErrors(err))
			for _, k := range tc.want {
				if !slices.Contains(got, k) {
					t.Errorf("no FieldError for %s; got %v from %v", k, got, err)
				}
			}
			if want := slices.Sorted(slices.Values(tc.want)); tc.exact && !slices.Equal(got, want) {
				t.Errorf("FieldErrors for %v, want exactly %v: %v", got, want, err)
			}
		})
	}
}

// A FieldError reads "key: reason", and errors.As finds it through the
// "config: " wrapping and the join.
func TestFieldErrorShape(t *testing.T) {
	_, err := config.Parse([]byte(edit(t, "      collection: rr-segments", "      collection: rr-segments\n      apikey: x")), lookup)
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("no FieldError in %v", err)
	}
	if fe.Key != "sinks[1].ups.apikey" || fe.Reason != "unknown key (line 21)" || fe.Error() != "sinks[1].ups.apikey: unknown key (line 21)" {
		t.Fatalf("FieldError %+v reads %q", fe, fe.Error())
	}
	if err.Error() != "config: sinks[1].ups.apikey: unknown key (line 21)" {
		t.Fatalf("error %q", err)
	}
}

// Validate checks a config as Defaults completes it, whether Defaults ran or
// not, never panics on a config built by hand, and changes nothing.
func TestValidateWithoutDefaults(t *testing.T) {
	valid := func() *config.Config {
		return &config.Config{
			Kafka:    config.Kafka{Brokers: []string{"localhost:9092"}},
			Sections: map[string]any{"enablenow": &service.EnableNowConfig{Token: config.NewSecret("t")}},
			Sinks:    []config.Sink{{Name: "cat", Type: "enablenow", Topics: []string{"in"}}},
		}
	}
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		want []string // FieldError keys; none: valid
	}{
		{name: "nil", cfg: nil, want: []string{"config"}},
		{name: "zero", cfg: &config.Config{}, want: []string{"kafka.brokers", "sinks"}},
		// Settings left nil (no Defaults): the type's defaults fill a copy.
		{name: "valid without defaults", cfg: valid()},
		{name: "every type, nothing set", cfg: &config.Config{
			Sinks:   []config.Sink{{Type: "contacthub-events"}, {Type: "ups"}, {Type: "enablenow"}, {Type: "nope"}},
			Sources: []config.Source{{Type: "contacthub-updates"}, {Type: ""}},
		}, want: []string{"kafka.brokers", "sinks[0].name", "sinks[0].topics", "sinks[0].type", "sinks[1].name", "sinks[1].topics", "sinks[1].type", "sinks[1].ups.collection",
			"sinks[2].name", "sinks[2].topics", "sinks[2].type", "sinks[3].name", "sinks[3].topics", "sinks[3].type",
			"sources[0].name", "sources[0].type", "sources[1].name", "sources[1].type"}},
		// Settings of another type's struct are reported, not asserted.
		{name: "settings of another type", cfg: func() *config.Config {
			c := valid()
			c.Sinks[0].Settings = &service.UPSSinkConfig{}
			return c
		}(), want: []string{"sinks[0].enablenow"}},
		{name: "source settings of another type", cfg: func() *config.Config {
			c := valid()
			c.Sections["contacthub"] = &service.ContacthubConfig{WorkspaceID: "2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e", Token: config.NewSecret("t")}
			c.Sources = []config.Source{{Name: "u", Type: "contacthub-updates", Settings: "page_size: 10"}}
			return c
		}(), want: []string{"sources[0]"}},
		{name: "section of another struct", cfg: func() *config.Config {
			c := valid()
			c.Sections["enablenow"] = &service.UPSConfig{}
			return c
		}(), want: []string{"enablenow"}},
		{name: "unregistered section", cfg: func() *config.Config {
			c := valid()
			c.Sections["salesforce"] = struct{}{}
			return c
		}(), want: []string{"salesforce"}},
		{name: "nil section", cfg: func() *config.Config {
			c := valid()
			c.Sections["enablenow"] = nil
			return c
		}(), want: []string{"enablenow", "sinks[0].type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if got := keysOf(fieldErrors(err)); !slices.Equal(got, slices.Sorted(slices.Values(tc.want))) {
				t.Fatalf("FieldErrors for %v, want %v: %v", got, tc.want, err)
			}
		})
	}
	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := c.Sinks[0]; s.Settings != nil || s.Concurrency != (config.Concurrency{}) || s.GroupID != "" || c.Kafka.CreateTopics != nil {
		t.Fatalf("Validate changed the config: %+v", s)
	}
	if en := c.Sections["enablenow"].(*service.EnableNowConfig); en.AuthScheme != nil || en.Timeout != 0 {
		t.Fatalf("Validate changed a section: %+v", en)
	}
	d := c.WithDefaults()
	if s := d.Sinks[0]; s.Concurrency != (config.Concurrency{Auto: true, Min: 4, Max: 256}) || s.Settings.(*service.EnableNowSinkConfig).MonitorTimeout != time.Hour {
		t.Fatalf("WithDefaults: %+v", s)
	}
}

// The lists of valid types come from the registry.
func TestTypesListedFromRegistry(t *testing.T) {
	if got := config.SinkTypes(); !slices.Equal(got, []string{"contacthub-customers", "contacthub-events", "enablenow", "ups"}) {
		t.Fatalf("sink types %v", got)
	}
	if got := config.SourceTypes(); !slices.Equal(got, []string{"contacthub-updates"}) {
		t.Fatalf("source types %v", got)
	}
	if got := config.Sections(); !slices.Equal(got, []string{"contacthub", "enablenow", "ups"}) {
		t.Fatalf("sections %v", got)
	}
	_, err := config.Parse([]byte(edit(t, "    type: ups", "    type: upsx")), lookup)
	if err == nil || !strings.Contains(err.Error(), `sinks[1].type: "upsx" is not one of contacthub-customers, contacthub-events, enablenow, ups`) {
		t.Fatalf("error %v", err)
	}
}

// Parse never panics, whatever the document, and what it accepts Validate
// accepts again (Defaults applied twice change nothing).
func FuzzParse(f *testing.F) {
	f.Add(base)
	f.Add(sections)
	f.Add("sinks: [{name: a, type: ups, ups: 3}]\nups: []\n")
	f.Add("sources: [{name: a, type: contacthub-updates, retry: x}]\n")
	if b, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(string(b))
	}
	every := func(name string) (string, bool) { return "x", true }
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := config.Parse([]byte(doc), every)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		if err := c.WithDefaults().Validate(); err != nil {
			t.Fatalf("defaults applied twice: %v", err)
		}
	})
}
