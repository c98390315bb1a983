package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/streams"
)

// nopSinkConfig is the block of the test-only sink type "test-nop", which
// shows that a sink type is one registration: its block decodes strictly,
// takes its defaults, is checked, and builds, with no other file changed.
type nopSinkConfig struct {
	Greeting string `yaml:"greeting"`
	Extra    int    `yaml:"extra"`
}

func init() {
	registerSink(config.SinkType[nopSinkConfig]{
		Name:    "test-nop",
		Section: "nop",
		Needs:   []string{enablenowSection},
		Defaults: func(s *config.Sink, n *nopSinkConfig) {
			config.DefaultConcurrency(&s.Concurrency, config.Concurrency{Fixed: 3})
			config.Default(&s.MaxInFlight, 10)
			config.Default(&s.Batch.MaxRecords, 2)
			config.Default(&n.Greeting, "hello "+s.Name)
		},
		Validate: func(p config.Problems, _ *config.Config, _ *config.Sink, n *nopSinkConfig) {
			if n.Extra < 0 {
				p.Add("nop.extra", "must not be negative")
			}
		},
	}, func(_ *Deps, _ config.Sink, n *nopSinkConfig) (streams.Sink, []Unit, []streams.TopicSpec, error) {
		if n.Greeting == "" {
			return nil, nil, nil, errors.New("built without defaults")
		}
		return streams.PerRecord(func(context.Context, *streams.Record) error { return nil }), nil,
			[]streams.TopicSpec{{Name: n.Greeting, Partitions: 1}}, nil
	})
}

const nopDoc = `
kafka: {brokers: ["127.0.0.1:1"]}
enablenow: {token: t}
sinks:
  - name: n
    type: test-nop
    topics: [in]
    nop:
      extra: 1
`

func TestRegisteredSinkTypeIsOneFile(t *testing.T) {
	lookup := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse([]byte(nopDoc), lookup)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sinks[0]
	if n := s.Settings.(*nopSinkConfig); n.Extra != 1 || n.Greeting != "hello n" || s.Concurrency.Fixed != 3 || s.GroupID != "connector-n" {
		t.Fatalf("decoded %+v %+v", s, n)
	}
	if !slices.Contains(config.SinkTypes(), "test-nop") {
		t.Fatalf("types %v", config.SinkTypes())
	}
	for _, tc := range []struct{ from, to, want string }{
		// The type's block decodes strictly, keys named from the top.
		{"      extra: 1", "      extra: 1\n      extr: 2", "sinks[0].nop.extr: unknown key (line 10)"},
		// The type's checks run, scoped to the sink.
		{"      extra: 1", "      extra: -1", "sinks[0].nop.extra: must not be negative"},
		// Needs names the section the type cannot run without.
		{"enablenow: {token: t}\n", "", "sinks[0].type: test-nop needs the enablenow section"},
		// Its block is not another type's.
		{"    type: test-nop", "    type: enablenow", "sinks[0].nop: only sinks of type test-nop take this section"},
	} {
		_, err := config.Parse([]byte(strings.Replace(nopDoc, tc.from, tc.to, 1)), lookup)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}

	// New builds from the config as Defaults completes it, even one made by
	// hand that never saw Defaults.
	hand := &config.Config{
		Kafka:    config.Kafka{Brokers: []string{"127.0.0.1:1"}},
		Sections: map[string]any{enablenowSection: &EnableNowConfig{Token: config.NewSecret("t")}},
		Sinks:    []config.Sink{{Name: "n", Type: "test-nop", Topics: []string{"in"}}},
	}
	svc, err := New(hand)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if !slices.ContainsFunc(svc.topics, func(ts streams.TopicSpec) bool { return ts.Name == "hello n" }) {
		t.Fatalf("topics %v", svc.topics)
	}
	if hand.Sinks[0].Settings != nil {
		t.Fatal("New changed the config it was given")
	}
	// A config Validate refuses does not build.
	hand.Sinks[0].Topics = nil
	if _, err := New(hand); err == nil || !strings.Contains(err.Error(), "sinks[0].topics") {
		t.Fatalf("New built a bad config: %v", err)
	}
}
