package enablenow

import (
	"net/http"
	"testing"
)

const validBody = `{"consentId":"af86536d-34e3-4ebc-6c64-08db56ccef25"}`

func TestAuth(t *testing.T) {
	cases := []struct {
		name       string
		authHeader string            // Config.AuthHeader
		send       map[string]string // headers replacing the default credential
		want       int
	}{
		{"bearer", "", nil, http.StatusCreated},
		// RFC 9110 makes the scheme case-insensitive; a strict stand-in would
		// fail a client the real API accepts.
		{"bearer scheme in lower case", "", map[string]string{"Authorization": "bearer " + testToken}, http.StatusCreated},
		{"wrong token", "", map[string]string{"Authorization": "Bearer wrong"}, http.StatusUnauthorized},
		{"token prefix", "", map[string]string{"Authorization": "Bearer " + testToken[:4]}, http.StatusUnauthorized},
		{"no credential", "", map[string]string{"Authorization": ""}, http.StatusUnauthorized},
		{"raw token without scheme", "", map[string]string{"Authorization": testToken}, http.StatusUnauthorized},
		{"basic scheme", "", map[string]string{"Authorization": "Basic " + testToken}, http.StatusUnauthorized},
		{"custom header", "X-Api-Key", nil, http.StatusCreated},
		// Header names are case-insensitive on the wire.
		{"custom header configured in lower case", "x-api-key", map[string]string{"X-API-KEY": testToken}, http.StatusCreated},
		// API-key style carries the raw token; a bearer prefix is a
		// client configured for the other style.
		{"custom header with bearer prefix", "X-Api-Key", map[string]string{"X-Api-Key": "Bearer " + testToken}, http.StatusUnauthorized},
		{"custom header wrong", "X-Api-Key", map[string]string{"X-Api-Key": "wrong"}, http.StatusUnauthorized},
		{"custom header configured, Authorization sent", "X-Api-Key",
			map[string]string{"X-Api-Key": "", "Authorization": "Bearer " + testToken}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb := start(t, Config{AuthHeader: tc.authHeader})
			a := sb.must(t, http.MethodPost, "/v2/categorization-jobs", validBody, tc.send)
			if a.status != tc.want {
				t.Fatalf("status %d, want %d; body %s", a.status, tc.want, a.body)
			}
			st := sb.srv.Stats()
			if tc.want == http.StatusUnauthorized {
				if st.Unauthorized != 1 || st.Created != 0 {
					t.Errorf("stats unauthorized=%d created=%d, want 1 and 0", st.Unauthorized, st.Created)
				}
				if e := decode[apiError](t, a); e.Message == "" {
					t.Errorf("401 without a message: %s", a.body)
				}
				bearer := tc.authHeader == ""
				if got := a.header.Get("WWW-Authenticate") != ""; got != bearer {
					t.Errorf("WWW-Authenticate present = %v, want %v (only for bearer auth)", got, bearer)
				}
			}
		})
	}
}

// Monitoring needs the credential too, and an unknown id must not be told
// apart from a known one before the caller is authenticated.
func TestAuthOnGet(t *testing.T) {
	sb := start(t, Config{})
	job := sb.createdJob(t, validBody, "")
	for _, id := range []string{job.ID, "unknown"} {
		a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/"+id, "", map[string]string{"Authorization": "Bearer wrong"})
		if a.status != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: status %d, want 401", id, a.status)
		}
	}
}

// The control routes carry no credential, so a test can always read and
// repair the sandbox, even in an injected 401 window.
func TestControlRoutesNeedNoAuth(t *testing.T) {
	sb := start(t, Config{})
	noAuth := map[string]string{"Authorization": ""}
	for _, path := range []string{"/stats", "/faults", "/faults/after-create"} {
		if a := sb.must(t, http.MethodGet, path, "", noAuth); a.status != http.StatusOK {
			t.Errorf("GET %s without credential: status %d, want 200", path, a.status)
		}
	}
}
