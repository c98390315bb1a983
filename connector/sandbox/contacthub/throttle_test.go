package contacthub

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
)

// TestThrottlingAppliesToEveryWorkspaceRequest: one bucket per workspace,
// drained by any API call, so a connector reading the stream and posting
// events shares one budget, as in production.
func TestThrottlingAppliesToEveryWorkspaceRequest(t *testing.T) {
	tests := []struct {
		name, method, path string
		body               bool
		ok                 int
	}{
		{"create event", http.MethodPost, "/events", true, http.StatusAccepted},
		{"update stream", http.MethodGet, "/updates", false, http.StatusOK},
		{"last offset", http.MethodGet, "/updates/last-offset", false, http.StatusOK},
		{"throttling configuration", http.MethodGet, "/configuration/throttling", false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			// One request a minute: the second one in a row must be refused.
			cfg.MaxRequestsPerMinute = 1
			h := newHarness(t, cfg)
			var body []byte
			if tt.body {
				body = eventBody(t, testCustomer, 0)
			}
			if a := h.do(tt.method, ws(tt.path), body, nil); a.status != tt.ok {
				t.Fatalf("first request: %d %s", a.status, a.body)
			}
			a := h.do(tt.method, ws(tt.path), body, nil)
			if a.status != http.StatusTooManyRequests {
				t.Fatalf("second request: %d %s, want 429", a.status, a.body)
			}
			a.apiError(t)
			// A full token takes a minute at this rate.
			if ra := a.header.Get("Retry-After"); ra != "60" {
				t.Fatalf("Retry-After %q, want 60", ra)
			}
			if st := h.srv.Stats(); st.Throttled != 1 || st.Faults.Throttled != 0 {
				t.Fatalf("Throttled %d, injected %d; want 1 and 0", st.Throttled, st.Faults.Throttled)
			}
		})
	}
}

// TestThrottlingRecovers: a client that obeys Retry-After gets through.
func TestThrottlingRecovers(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRequestsPerMinute = 300 // 5 per second, burst 5
	h := newHarness(t, cfg)
	body := eventBody(t, testCustomer, 0)
	var refused answer
	for i := 0; ; i++ {
		a := h.postEvent(body)
		if a.status == http.StatusTooManyRequests {
			refused = a
			break
		}
		if a.status != http.StatusAccepted || i > 5 {
			t.Fatalf("request %d: %d %s (burst is 5)", i, a.status, a.body)
		}
	}
	ra, err := strconv.Atoi(refused.header.Get("Retry-After"))
	if err != nil || ra != 1 {
		t.Fatalf("Retry-After %q, want 1 (a token every 200ms)", refused.header.Get("Retry-After"))
	}
	testkit.WaitFor(t, time.Duration(ra)*time.Second+2*time.Second, "a request to pass after Retry-After", testkit.Until(func() bool {
		return h.postEvent(body).status == http.StatusAccepted
	}))
}

// TestThrottlingNoneBelowRate: requests within the budget are never refused,
// so a connector pacing itself correctly sees no 429 at all.
func TestThrottlingNoneBelowRate(t *testing.T) {
	tests := []struct {
		name      string
		perMinute int
		requests  int
	}{
		{"disabled", 0, 300},
		// 12000/min is a burst of 200; 150 back-to-back requests stay within it.
		{"within the burst", 12000, 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig())
			h.srv.SetMaxRequestsPerMinute(tt.perMinute)
			body := eventBody(t, testCustomer, 0)
			for i := range tt.requests {
				if a := h.postEvent(body); a.status != http.StatusAccepted {
					t.Fatalf("request %d: %d %s", i, a.status, a.body)
				}
			}
			if st := h.srv.Stats(); st.Throttled != 0 || st.Accepted != int64(tt.requests) {
				t.Fatalf("Throttled %d Accepted %d", st.Throttled, st.Accepted)
			}
		})
	}
}

// TestThrottlingCountsOnlyAuthorizedRequests: a stranger with a bad token
// must not be able to spend the workspace's budget.
func TestThrottlingCountsOnlyAuthorizedRequests(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRequestsPerMinute = 1
	h := newHarness(t, cfg)
	for range 5 {
		if a := h.do(http.MethodGet, ws("/updates"), nil, map[string]string{"Authorization": "Bearer bad"}); a.status != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", a.status)
		}
	}
	if a := h.do(http.MethodGet, ws("/updates"), nil, nil); a.status != http.StatusOK {
		t.Fatalf("first authorized request: %d %s", a.status, a.body)
	}
}

func TestThrottlingConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		want   int    // maxRequestsPerMinute after the request
		path   string // the field error expected on 400, if any
	}{
		{"set", `{"maxRequestsPerMinute":120000}`, http.StatusOK, 120000, ""},
		{"disable", `{"maxRequestsPerMinute":0}`, http.StatusOK, 0, ""},
		{"negative", `{"maxRequestsPerMinute":-1}`, http.StatusBadRequest, 7000, "maxRequestsPerMinute"},
		{"missing", `{}`, http.StatusBadRequest, 7000, "maxRequestsPerMinute"},
		{"not an integer", `{"maxRequestsPerMinute":1.5}`, http.StatusBadRequest, 7000, ""},
		{"a string", `{"maxRequestsPerMinute":"10"}`, http.StatusBadRequest, 7000, ""},
		{"unknown field", `{"maxRequestsPerMinute":10,"burst":5}`, http.StatusBadRequest, 7000, ""},
		{"two objects", `{"maxRequestsPerMinute":10}{"maxRequestsPerMinute":20}`, http.StatusBadRequest, 7000, ""},
		{"not JSON", `ten`, http.StatusBadRequest, 7000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRequestsPerMinute = 7000
			h := newHarness(t, cfg)
			a := h.do(http.MethodPut, ws("/configuration/throttling"), []byte(tt.body), nil)
			if a.status != tt.status {
				t.Fatalf("PUT %s: %d %s, want %d", tt.body, a.status, a.body, tt.status)
			}
			if tt.status != http.StatusOK {
				e := a.apiError(t)
				if tt.path != "" && (len(e.Errors) != 1 || e.Errors[0].Path != tt.path) {
					t.Fatalf("errors %+v, want one at %s", e.Errors, tt.path)
				}
			}
			g := h.do(http.MethodGet, ws("/configuration/throttling"), nil, nil)
			var got struct{ MaxRequestsPerMinute *int }
			if err := json.Unmarshal(g.body, &got); err != nil || got.MaxRequestsPerMinute == nil {
				t.Fatalf("GET: %d %s", g.status, g.body)
			}
			if *got.MaxRequestsPerMinute != tt.want {
				t.Fatalf("maxRequestsPerMinute %d, want %d", *got.MaxRequestsPerMinute, tt.want)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want string
	}{
		{0, "1"}, // 0 would mean "at once" and invite a busy loop
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Millisecond, "2"}, // rounded up: earlier would be refused again
		{59900 * time.Millisecond, "60"},
	}
	for _, tt := range tests {
		if got := retryAfterSeconds(tt.wait); got != tt.want {
			t.Errorf("retryAfterSeconds(%v) = %s, want %s", tt.wait, got, tt.want)
		}
	}
}
