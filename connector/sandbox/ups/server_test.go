package ups

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		fields []string // the ConfigError fields expected, none for a good config
	}{
		{"the zero limits take the defaults", func(*Config) {}, nil},
		{"every limit lifted", func(c *Config) { c.UpdatesPerSecond, c.MaxRecords, c.MaxBodyBytes = NoLimit, NoLimit, NoLimit }, nil},
		{"every job fails", func(c *Config) { c.JobFailShare = 1 }, nil},
		{"no credentials", func(c *Config) { c.ClientID, c.ClientSecret = "", "" }, []string{"ClientID", "ClientSecret"}},
		{"no apiKey", func(c *Config) { c.APIKey = "" }, []string{"APIKey"}},
		// It would never match the {apiKey} path segment.
		{"apiKey with a slash", func(c *Config) { c.APIKey = "a/b" }, []string{"APIKey"}},
		{"negative TTL", func(c *Config) { c.TokenTTL = -time.Second }, []string{"TokenTTL"}},
		// Only NoLimit means "lifted"; another negative is a typo.
		{"rate below NoLimit", func(c *Config) { c.UpdatesPerSecond = -2 }, []string{"UpdatesPerSecond"}},
		{"records below NoLimit", func(c *Config) { c.MaxRecords = -5 }, []string{"MaxRecords"}},
		{"body below NoLimit", func(c *Config) { c.MaxBodyBytes = -5 }, []string{"MaxBodyBytes"}},
		{"fail share above 1", func(c *Config) { c.JobFailShare = 1.5 }, []string{"JobFailShare"}},
		{"fail share NaN", func(c *Config) { c.JobFailShare = math.NaN() }, []string{"JobFailShare"}},
		{"negative job duration", func(c *Config) { c.JobDuration = -time.Millisecond }, []string{"JobDuration"}},
		{"fault shares", func(c *Config) {
			c.Faults = fault.Settings{ServerErrorShare: 2, ThrottleShare: -1, ResetShare: 1.1}
		}, []string{"Faults.ServerErrorShare", "Faults.ThrottleShare", "Faults.ResetShare"}},
		{"fault durations", func(c *Config) {
			c.Faults = fault.Settings{Latency: -1, UnauthorizedFor: -1, RetryAfter: -1}
		}, []string{"Faults.Latency", "Faults.UnauthorizedFor", "Faults.RetryAfter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.change(&cfg)
			_, err := New(cfg)
			var got []string
			for _, e := range unjoin(err) {
				var ce *ConfigError
				if !errors.As(e, &ce) {
					t.Fatalf("error %v is not a *ConfigError", e)
				}
				got = append(got, ce.Field)
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("fields %v, want %v (error: %v)", got, tt.fields, err)
			}
			for i := range got {
				if got[i] != tt.fields[i] {
					t.Errorf("fields %v, want %v", got, tt.fields)
				}
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Faults wrap the API, never /stats or /faults; the 401 window spares the
// token endpoints, so a client can show it recovers by asking again.
func TestFaults(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	tok, statusTok := sb.token(attributesService), sb.token(statusService)
	job := sb.accepted(http.MethodPost, "rr-segments", tok, batch(segs("u", 1)))
	tests := []struct {
		name     string
		settings string
		enrich   int
		status   int
		token    int
	}{
		{"none", `{}`, http.StatusOK, http.StatusOK, http.StatusOK},
		{"401 window", `{"unauthorized_for":"1h"}`, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusOK},
		{"all 503", `{"server_error_share":1}`, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable},
		{"all 429", `{"throttle_share":1,"retry_after":"3s"}`, http.StatusTooManyRequests, http.StatusTooManyRequests, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb.t = t
			if a := sb.do(http.MethodPut, "/faults", nil, []byte(tt.settings)); a.status != http.StatusOK {
				t.Fatalf("PUT /faults: %d %s", a.status, a.body)
			}
			t.Cleanup(func() { sb.srv.Faults().Set(fault.Settings{}) })
			if a := sb.send(http.MethodPost, "rr-segments", tok, batch(segs("u", 1))); a.status != tt.enrich {
				t.Errorf("enrichment: %d %s, want %d", a.status, a.body, tt.enrich)
			}
			if a := sb.status(statusTok, job.JobID, ""); a.status != tt.status {
				t.Errorf("status: %d %s, want %d", a.status, a.body, tt.status)
			}
			if a := sb.requestToken(attributesService, "query", testCredentials()); a.status != tt.token {
				t.Errorf("token: %d %s, want %d", a.status, a.body, tt.token)
			}
			if a := sb.do(http.MethodGet, "/stats", nil, nil); a.status != http.StatusOK {
				t.Errorf("/stats: %d, want 200 whatever the faults", a.status)
			}
			if a := sb.do(http.MethodGet, "/faults", nil, nil); a.status != http.StatusOK {
				t.Errorf("GET /faults: %d, want 200 whatever the faults", a.status)
			}
		})
	}
	if c := sb.srv.Stats().Faults; c.Unauthorized != 2 || c.ServerErrors != 3 || c.Throttled != 3 {
		t.Errorf("fault counts %+v", c)
	}
}

func TestStats(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig()
	cfg.UpdatesPerSecond = 10
	sb := newSandbox(t, cfg, clock)
	tok := sb.token(attributesService)
	sb.srv.jobs.fails = func() bool { return false }
	sb.accepted(http.MethodPost, "rr-segments", tok, batch(segs("u", 4)))
	sb.accepted(http.MethodPut, "rr-userattributes", tok, map[string]any{"data": attrs("u", 1)[0]})
	sb.send(http.MethodPost, "rr-segments", tok, batch(segs("v", 6)))         // 429: 5 left
	sb.send(http.MethodPost, "rr-segments", tok, batch([]rec{{UserID: "x"}})) // 400: no value
	sb.send(http.MethodPost, "rr-segments", "nope", batch(segs("u", 1)))      // 401
	sb.srv.jobs.fails = func() bool { return true }
	sb.accepted(http.MethodPost, "rr-segments", tok, batch(segs("w", 1)))
	clock.Advance(DefaultJobDuration)

	var st Stats
	sb.do(http.MethodGet, "/stats", nil, nil).decode(t, &st)
	want := Stats{
		Requests: 6, Accepted: 3, Rejected400: 1, Throttled429: 1, Unauthorized401: 1,
		RecordsAccepted: 6, TokensIssued: 1, Jobs: 3, JobsFailed: 1, MeanFillRecords: 2,
	}
	got := st
	got.PerCollection, got.MeanBodyBytes = nil, 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
	if st.MeanBodyBytes <= 0 {
		t.Errorf("mean body bytes %v", st.MeanBodyBytes)
	}
	wantPer := map[string]CollectionStats{
		"rr-segments":        {Users: 4, Updates: 4},
		"rr-userattributes":  {Users: 1, Updates: 1},
		"userlinking":        {},
		"rr-userpreferences": {},
	}
	if len(st.PerCollection) != len(wantPer) {
		t.Errorf("per collection %+v, want %+v", st.PerCollection, wantPer)
	}
	for c, w := range wantPer {
		if st.PerCollection[c] != w {
			t.Errorf("%s: %+v, want %+v", c, st.PerCollection[c], w)
		}
	}

	// Per collection and user: the last value stored and how many updates.
	user := segs("u", 4)[0]
	var one struct {
		Value   json.RawMessage `json:"value"`
		Updates int             `json:"updates"`
	}
	sb.do(http.MethodGet, "/stats/rr-segments/"+user.UserID, nil, nil).decode(t, &one)
	if want, _ := json.Marshal(user.Value); one.Updates != 1 || string(one.Value) != string(want) {
		t.Errorf("stats of %s: %s x%d, want %s x1", user.UserID, one.Value, one.Updates, want)
	}
	if a := sb.do(http.MethodGet, "/stats/rr-segments/nobody", nil, nil); a.status != http.StatusNotFound {
		t.Errorf("stats of an unknown user: %d, want 404", a.status)
	}
}

func TestRoutes(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/stats", http.StatusOK},
		{http.MethodPost, "/stats", http.StatusMethodNotAllowed},
		{http.MethodGet, "/faults", http.StatusOK},
		{http.MethodGet, "/attributes/api/v1/608/rr-segments", http.StatusMethodNotAllowed},
		{http.MethodPost, "/common-status/v1/608/job/x/events", http.StatusMethodNotAllowed},
		{http.MethodGet, "/elsewhere", http.StatusNotFound},
		// The reference shows this form once; the service documents the
		// collection right after the apiKey.
		{http.MethodPost, "/attributes/api/v1/608/collections/rr-segments", http.StatusNotFound},
	}
	for _, tt := range tests {
		if a := sb.do(tt.method, tt.path, nil, nil); a.status != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, a.status, tt.status)
		}
	}
}
