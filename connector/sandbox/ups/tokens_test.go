package ups

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
)

func TestTokenEndpoints(t *testing.T) {
	good := testCredentials()
	with := func(k, v string) url.Values {
		out := url.Values{}
		for kk, vv := range good {
			out[kk] = vv
		}
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
		return out
	}
	tests := []struct {
		name      string
		svc       service
		how       string
		values    url.Values
		status    int
		wantError string
	}{
		// The reference's curl example.
		{"form fields", attributesService, "form", good, http.StatusOK, ""},
		// The reference's prose.
		{"query parameters", attributesService, "query", good, http.StatusOK, ""},
		// What OAuth client libraries try first.
		{"basic auth", attributesService, "basic", good, http.StatusOK, ""},
		{"status service, form", statusService, "form", good, http.StatusOK, ""},
		{"status service, query", statusService, "query", good, http.StatusOK, ""},
		{"wrong secret", attributesService, "form", with("client_secret", "nope"), http.StatusUnauthorized, "invalid_client"},
		{"wrong secret, query", statusService, "query", with("client_secret", "nope"), http.StatusUnauthorized, "invalid_client"},
		{"wrong client", attributesService, "form", with("client_id", "other"), http.StatusUnauthorized, "invalid_client"},
		{"no secret", attributesService, "form", with("client_secret", ""), http.StatusUnauthorized, "invalid_client"},
		{"wrong basic secret", attributesService, "basic", with("client_secret", "nope"), http.StatusUnauthorized, "invalid_client"},
		{"other grant", attributesService, "form", with("grant_type", "password"), http.StatusBadRequest, "unsupported_grant_type"},
		{"no grant", attributesService, "query", with("grant_type", ""), http.StatusBadRequest, "invalid_request"},
	}
	sb := newSandbox(t, testConfig(), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb.t = t
			a := sb.requestToken(tt.svc, tt.how, tt.values)
			if a.status != tt.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tt.status)
			}
			if tt.status != http.StatusOK {
				var oe oauthError
				a.decode(t, &oe)
				if oe.Error != tt.wantError {
					t.Errorf("error %q, want %q", oe.Error, tt.wantError)
				}
				return
			}
			var ta tokenAnswer
			a.decode(t, &ta)
			if ta.TokenType != "bearer" || ta.AccessToken == "" || ta.ExpiresIn != 28800 {
				t.Errorf("answer %+v, want a bearer token expiring in 28800 s", ta)
			}
		})
	}
}

func TestTokenMethodNotAllowed(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	for _, svc := range []service{attributesService, statusService} {
		if a := sb.do(http.MethodGet, tokenPath(svc), nil, nil); a.status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", tokenPath(svc), a.status)
		}
	}
}

// The reference makes the status service demand its own token; a client
// that reuses the attributes token there must fail here as in production.
func TestTokensOfTheTwoServicesAreSeparate(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	attrTok, statusTok := sb.token(attributesService), sb.token(statusService)
	job := sb.accepted(http.MethodPost, "rr-userattributes", attrTok, batch(attrs("u", 1)))
	tests := []struct {
		name   string
		call   func() answer
		status int
	}{
		{"attributes token, enrichment", func() answer {
			return sb.send(http.MethodPost, "rr-userattributes", attrTok, batch(attrs("u", 1)))
		}, http.StatusOK},
		{"status token, enrichment", func() answer {
			return sb.send(http.MethodPost, "rr-userattributes", statusTok, batch(attrs("u", 1)))
		}, http.StatusUnauthorized},
		{"status token, status", func() answer { return sb.status(statusTok, job.JobID, "") }, http.StatusOK},
		{"attributes token, status", func() answer { return sb.status(attrTok, job.JobID, "") }, http.StatusUnauthorized},
		{"made-up token, enrichment", func() answer {
			return sb.send(http.MethodPost, "rr-userattributes", "M6w0M0K9QbQGHC8xgvb91ZgLMKaW4xOd", batch(attrs("u", 1)))
		}, http.StatusUnauthorized},
		{"no token, status", func() answer {
			return sb.do(http.MethodGet, "/common-status/v1/"+testAPIKey+"/job/"+job.JobID+"/events", nil, nil)
		}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb.t = t
			a := tt.call()
			if a.status != tt.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tt.status)
			}
			if a.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		name string
		// expire does what makes the token invalid.
		expire func(*Server, *testkit.Clock)
		// stillValid runs before expire and must leave the token valid.
		stillValid func(*Server, *testkit.Clock)
	}{
		{
			name:       "by TTL",
			stillValid: func(_ *Server, c *testkit.Clock) { c.Advance(time.Hour - time.Millisecond) },
			expire:     func(_ *Server, c *testkit.Clock) { c.Advance(time.Millisecond) },
		},
		{
			name:       "by ExpireTokens",
			stillValid: func(*Server, *testkit.Clock) {},
			expire:     func(s *Server, _ *testkit.Clock) { s.ExpireTokens() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			cfg := testConfig()
			cfg.TokenTTL = time.Hour
			sb := newSandbox(t, cfg, clock)
			a := sb.requestToken(attributesService, "form", testCredentials())
			var ta tokenAnswer
			a.decode(t, &ta)
			if ta.ExpiresIn != 3600 {
				t.Errorf("expires_in %d, want 3600", ta.ExpiresIn)
			}
			attrTok, statusTok := ta.AccessToken, sb.token(statusService)

			tt.stillValid(sb.srv, clock)
			job := sb.accepted(http.MethodPost, "rr-segments", attrTok, batch(segs("u", 1)))
			if a := sb.status(statusTok, job.JobID, ""); a.status != http.StatusOK {
				t.Fatalf("status before expiry: %d %s", a.status, a.body)
			}

			tt.expire(sb.srv, clock)
			if a := sb.send(http.MethodPost, "rr-segments", attrTok, batch(segs("u", 1))); a.status != http.StatusUnauthorized {
				t.Errorf("enrichment after expiry: %d %s, want 401", a.status, a.body)
			}
			if a := sb.status(statusTok, job.JobID, ""); a.status != http.StatusUnauthorized {
				t.Errorf("status after expiry: %d %s, want 401", a.status, a.body)
			}
			// A client recovers by asking again.
			sb.accepted(http.MethodPost, "rr-segments", sb.token(attributesService), batch(segs("u", 1)))
			if st := sb.srv.Stats(); st.Unauthorized401 != 2 || st.TokensIssued != 3 {
				t.Errorf("stats: %d unauthorized, %d tokens issued; want 2 and 3", st.Unauthorized401, st.TokensIssued)
			}
		})
	}
}

// A client asking for a token per request must not grow the store without
// bound: expired tokens are swept as it grows.
func TestTokenStoreForgetsExpiredTokens(t *testing.T) {
	ts := newTokenStore(time.Second)
	now := time.Unix(0, 0)
	for range 10 * tokenPruneFloor {
		ts.issue(attributesService, now)
		now = now.Add(100 * time.Millisecond)
	}
	if n := len(ts.issued); n > 2*tokenPruneFloor {
		t.Errorf("%d tokens held, want at most %d", n, 2*tokenPruneFloor)
	}
}
