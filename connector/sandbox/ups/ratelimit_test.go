package ups

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/contactlab/connector/schemas"
)

// step is one request of a throttling scenario, after moving the clock.
type step struct {
	advance    time.Duration
	method     string // default POST
	records    int
	status     int
	retryAfter string // checked on 429
}

func TestThrottling(t *testing.T) {
	tests := []struct {
		name  string
		rate  int
		steps []step
	}{
		{
			name: "a second's worth in a burst, then nothing",
			rate: 1000,
			steps: []step{
				{records: 400, status: 200},
				{records: 400, status: 200},
				{records: 200, status: 200},
				{records: 1, status: 429, retryAfter: "1"},
				// Half a second refills half the bucket.
				{advance: 500 * time.Millisecond, records: 500, status: 200},
				{records: 1, status: 429, retryAfter: "1"},
			},
		},
		{
			name: "a refused request spends nothing",
			rate: 1000,
			steps: []step{
				{records: 900, status: 200},
				{records: 101, status: 429, retryAfter: "1"},
				{records: 100, status: 200},
			},
		},
		{
			// Guards against a bucket that is refilled only in whole
			// seconds, or drained by the check itself.
			name: "exactly at the rate, never throttled",
			rate: 1000,
			steps: func() []step {
				var s []step
				for range 30 {
					s = append(s, step{advance: 100 * time.Millisecond, records: 100, status: 200})
				}
				return s
			}(),
		},
		{
			// The reference: up to 1000 PUT requests per second, one
			// update each.
			name: "PUT counts one update",
			rate: 2,
			steps: []step{
				{method: http.MethodPut, records: 1, status: 200},
				{method: http.MethodPut, records: 1, status: 200},
				{method: http.MethodPut, records: 1, status: 429, retryAfter: "1"},
				{advance: 500 * time.Millisecond, method: http.MethodPut, records: 1, status: 200},
			},
		},
		{
			// A payload larger than the bucket would never fit: it passes
			// on a full bucket and the debt slows what follows.
			name: "larger than the bucket",
			rate: 100,
			steps: []step{
				{records: 1000, status: 200},
				{records: 100, status: 429, retryAfter: "10"},
				{advance: 9 * time.Second, records: 100, status: 429, retryAfter: "1"},
				{advance: time.Second, records: 100, status: 200},
			},
		},
		{
			name: "lifted",
			rate: NoLimit,
			steps: []step{
				{records: 1000, status: 200},
				{records: 1000, status: 200},
				{records: 1000, status: 200},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			cfg := testConfig()
			cfg.UpdatesPerSecond = tt.rate
			sb := newSandbox(t, cfg, clock)
			tok := sb.token(attributesService)
			var throttled, accepted int64
			var throttledUsers []string
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				var a answer
				users := attrs(fmt.Sprintf("step%d-", i), s.records)
				if s.method == http.MethodPut {
					a = sb.send(http.MethodPut, "rr-userattributes", tok, map[string]any{"data": users[0]})
				} else {
					a = sb.send(http.MethodPost, "rr-userattributes", tok, batch(users))
				}
				if a.status != s.status {
					t.Fatalf("step %d (%d records): %d %s, want %d", i, s.records, a.status, a.body, s.status)
				}
				if a.status == http.StatusTooManyRequests {
					throttled++
					if got := a.header.Get("Retry-After"); got != s.retryAfter {
						t.Errorf("step %d: Retry-After %q, want %q", i, got, s.retryAfter)
					}
					throttledUsers = append(throttledUsers, users[0].UserID)
				} else {
					accepted++
				}
			}
			// A throttled payload is not stored, even once its job would
			// have ended.
			clock.Advance(DefaultJobDuration)
			for _, u := range throttledUsers {
				if _, _, ok := sb.srv.Stored(schemas.UserAttributes, u); ok {
					t.Errorf("throttled record of %s was stored", u)
				}
			}
			if st := sb.srv.Stats(); st.Throttled429 != throttled || st.Accepted != accepted {
				t.Errorf("stats: %d throttled, %d accepted; want %d and %d", st.Throttled429, st.Accepted, throttled, accepted)
			}
		})
	}
}

// With the real clock: a client below the rate is never throttled, one above
// it is.
func TestThrottlingRealClock(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	tok := sb.token(attributesService)
	start := time.Now()
	for i := range 5 {
		if a := sb.send(http.MethodPost, "rr-segments", tok, batch(segs("u", 150))); a.status != http.StatusOK {
			t.Fatalf("post %d: %d %s, below the rate", i, a.status, a.body)
		}
	}
	a := sb.send(http.MethodPost, "rr-segments", tok, batch(segs("u", 1000)))
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "1" {
		t.Fatalf("above the rate: %d, Retry-After %q; want 429 and 1", a.status, a.header.Get("Retry-After"))
	}
	// Throttling is per apiKey, across collections. With the real clock the
	// bucket refills while the requests above are served: only when they
	// took well under a second is it still short of a full request.
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		if a := sb.send(http.MethodPost, "rr-userattributes", tok, batch(attrs("u", 1000))); a.status != http.StatusTooManyRequests {
			t.Fatalf("another collection: %d, want 429", a.status)
		}
	} else {
		t.Logf("requests took %s: the bucket refilled meanwhile, the cross-collection check says nothing here", elapsed)
	}
	// SetLimits takes effect at once.
	sb.srv.SetLimits(0, DefaultMaxRecords, DefaultMaxBodyBytes)
	sb.accepted(http.MethodPost, "rr-segments", tok, batch(segs("u", 1000)))
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want string
	}{
		{0, "1"}, // never "0": a client would retry at once
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{9500 * time.Millisecond, "10"},
	}
	for _, tt := range tests {
		if got := retryAfterSeconds(tt.wait); got != tt.want {
			t.Errorf("retryAfterSeconds(%v) = %q, want %q", tt.wait, got, tt.want)
		}
	}
}
