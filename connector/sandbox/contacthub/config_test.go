package contacthub

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		fields []string // the ConfigError fields expected; none means valid
	}{
		{"defaults of the test config are valid", func(*Config) {}, nil},
		{"everything set", func(c *Config) {
			c.MaxRequestsPerMinute, c.Customers, c.ChangesPerSecond, c.MaxRetainedUpdates = 600, 10, 2.5, 100
			c.Faults = fault.Settings{ServerErrorShare: 1, ThrottleShare: 0.5, ResetShare: 0}
		}, nil},
		// A typo in the workspace would make every request 404 with no hint why.
		{"workspace not a uuid", func(c *Config) { c.WorkspaceID = "ws-1" }, []string{"WorkspaceID"}},
		{"workspace in urn form", func(c *Config) { c.WorkspaceID = "urn:uuid:" + testWorkspace }, []string{"WorkspaceID"}},
		// Without a token the auth check would accept "Bearer " from anyone.
		{"no token", func(c *Config) { c.Token = "" }, []string{"Token"}},
		{"token with space", func(c *Config) { c.Token = "a b" }, []string{"Token"}},
		{"negative throttling", func(c *Config) { c.MaxRequestsPerMinute = -1 }, []string{"MaxRequestsPerMinute"}},
		{"node missing", func(c *Config) { c.NodeID = "" }, []string{"NodeID"}},
		{"negative customers", func(c *Config) { c.Customers = -1 }, []string{"Customers"}},
		// Their CREATEs would be dropped by the log before anyone read them.
		{"customers beyond the retained log", func(c *Config) { c.Customers, c.MaxRetainedUpdates = 11, 10 }, []string{"Customers"}},
		{"NaN rate", func(c *Config) { c.ChangesPerSecond = math.NaN() }, []string{"ChangesPerSecond"}},
		{"infinite rate", func(c *Config) { c.ChangesPerSecond = math.Inf(1) }, []string{"ChangesPerSecond"}},
		{"negative rate", func(c *Config) { c.ChangesPerSecond = -1 }, []string{"ChangesPerSecond"}},
		{"negative retention", func(c *Config) { c.MaxRetainedUpdates = -1 }, []string{"MaxRetainedUpdates"}},
		{"fault share above 1", func(c *Config) { c.Faults.ServerErrorShare = 1.5 }, []string{"Faults.ServerErrorShare"}},
		{"negative fault latency", func(c *Config) { c.Faults.Latency = -1 }, []string{"Faults.Latency"}},
		{"the readings set", func(c *Config) {
			c.UpdateOffsets, c.MaxEventBytes, c.MaxPageSize = true, 64000, 100
			c.AggregateNodes, c.Forbidden = []string{testNode}, []string{OpThrottling, OpLastOffset}
		}, nil},
		{"negative event limit", func(c *Config) { c.MaxEventBytes = -1 }, []string{"MaxEventBytes"}},
		{"page limit above the reference's", func(c *Config) { c.MaxPageSize = 4001 }, []string{"MaxPageSize"}},
		{"aggregate node not a uuid", func(c *Config) { c.AggregateNodes = []string{"agg"} }, []string{"AggregateNodes"}},
		// A typo would silently forbid nothing.
		{"unknown operation", func(c *Config) { c.Forbidden = []string{"event"} }, []string{"Forbidden"}},
		// Every mistake is reported at once, not one per restart.
		{"several at once", func(c *Config) { c.WorkspaceID, c.Token, c.Customers = "", "", -5 },
			[]string{"WorkspaceID", "Token", "Customers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.mutate(&cfg)
			s, err := New(cfg)
			if tt.fields == nil {
				if err != nil || s == nil {
					t.Fatalf("New: %v, want a server", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %+v", cfg)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *ConfigError
				if !errors.As(e, &ce) {
					t.Fatalf("error %v is not a *ConfigError", e)
				}
				got = append(got, ce.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields %v, want %v (error: %v)", got, tt.fields, err)
			}
		})
	}
}

func TestNewSeedsCustomers(t *testing.T) {
	cfg := testConfig()
	cfg.Customers = 25
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LastOffset(); got != 25 {
		t.Fatalf("LastOffset = %d, want 25 (one CREATE per customer)", got)
	}
	if got := s.log.lastOffset(filterKey{kind: kindEvent}); got != 0 {
		t.Fatalf("last EVENT offset = %d, want 0: seeding creates customers only", got)
	}
}
