package kafkatest

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestOptionsWithDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		want    Options
		wantErr string
	}{
		{name: "zero is one broker", in: Options{}, want: Options{Brokers: 1, StartTimeout: defaultStartTimeout}},
		{name: "three brokers", in: Options{Brokers: 3}, want: Options{Brokers: 3, StartTimeout: defaultStartTimeout}},
		{name: "timeout kept", in: Options{StartTimeout: time.Second}, want: Options{Brokers: 1, StartTimeout: time.Second}},
		// Two voters cannot lose one and keep a quorum; the failure tests
		// would hang instead of failing over.
		{name: "two brokers", in: Options{Brokers: 2}, wantErr: "want 1 or 3"},
		{name: "negative brokers", in: Options{Brokers: -1}, wantErr: "want 1 or 3"},
		{name: "negative timeout", in: Options{StartTimeout: -time.Second}, wantErr: "want > 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.key() != tt.want.key() || got.StartTimeout != tt.want.StartTimeout {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestOptionsKey guards Shared: options that start different clusters
// must not share one, equal ones must.
func TestOptionsKey(t *testing.T) {
	a := Options{Brokers: 1, Config: map[string]string{"x": "1", "y": "2"}}
	b := Options{Brokers: 1, Config: map[string]string{"y": "2", "x": "1"}}
	if a.key() != b.key() {
		t.Fatalf("equal options, different keys: %q, %q", a.key(), b.key())
	}
	for _, other := range []Options{
		{Brokers: 3, Config: a.Config},
		{Brokers: 1, Config: map[string]string{"x": "1"}},
		{Brokers: 1, Config: a.Config, FastCompaction: true},
		{Brokers: 1, Config: a.Config, AutoCreateTopics: true},
	} {
		if other.key() == a.key() {
			t.Errorf("%+v shares the key of %+v", other, a)
		}
	}
}

func TestServerProperties(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want map[string]string
	}{
		{
			name: "one broker replicates nothing",
			opts: Options{Brokers: 1},
			want: map[string]string{
				"default.replication.factor":       "1",
				"min.insync.replicas":              "1",
				"offsets.topic.replication.factor": "1",
				"transaction.state.log.min.isr":    "1",
				"auto.create.topics.enable":        "false",
			},
		},
		{
			name: "three brokers survive one down under acks=all",
			opts: Options{Brokers: 3},
			want: map[string]string{
				"default.replication.factor":       "3",
				"min.insync.replicas":              "2",
				"offsets.topic.replication.factor": "3",
				"transaction.state.log.min.isr":    "2",
				"controller.quorum.voters":         "1@127.0.0.1:3,2@127.0.0.1:6,3@127.0.0.1:9",
			},
		},
		{
			name: "fast compaction",
			opts: Options{Brokers: 1, FastCompaction: true},
			want: map[string]string{"log.cleaner.backoff.ms": "100", "log.segment.bytes": "1048576"},
		},
		{
			name: "auto topic creation",
			opts: Options{Brokers: 1, AutoCreateTopics: true},
			want: map[string]string{"auto.create.topics.enable": "true"},
		},
		{
			name: "Config overrides the harness",
			opts: Options{Brokers: 3, FastCompaction: true, Config: map[string]string{"min.insync.replicas": "3", "log.cleaner.backoff.ms": "5"}},
			want: map[string]string{"min.insync.replicas": "3", "log.cleaner.backoff.ms": "5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{opts: tt.opts, users: Users{Plain: User{Name: "p", Password: "pw"}}}
			for i := range tt.opts.Brokers {
				c.nodes = append(c.nodes, &node{id: i + 1, dir: "/d", plainPort: 3*i + 1, securePort: 3*i + 2, controllerPort: 3*i + 3})
			}
			got := c.serverProperties(c.nodes[0])
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if !tt.opts.FastCompaction {
				for k := range maps.Keys(fastCompactionSettings) {
					if _, ok := got[k]; ok && tt.opts.Config[k] == "" {
						t.Errorf("%s set without FastCompaction", k)
					}
				}
			}
		})
	}
}

func TestEscapeProperty(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		// PEM values span lines; a properties file needs them on one.
		{"-----BEGIN X-----\nAB\n-----END X-----\n", `-----BEGIN X-----\nAB\n-----END X-----\n`},
		{`a\b`, `a\\b`},
		{" lead", `\ lead`},
	}
	for _, tt := range tests {
		if got := escapeProperty(tt.in); got != tt.want {
			t.Errorf("escapeProperty(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t, "topic"), UniqueName(t, "topic")
	if a == b {
		t.Fatalf("two calls gave %q", a)
	}
	for _, r := range a {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", r) {
			t.Fatalf("%q has %q, not legal in a Kafka topic name", a, r)
		}
	}
}
