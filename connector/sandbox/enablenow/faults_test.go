package enablenow

import (
	"errors"
	"net/http"
	"testing"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

// Generic faults strike only the API: /stats and /faults keep answering, so
// a test can always see what happened and turn the faults off again.
func TestFaultsWrapOnlyTheAPI(t *testing.T) {
	sb := start(t, Config{Faults: fault.Settings{ServerErrorShare: 1}})
	if a := sb.create(t, validBody, "k"); a.status != http.StatusServiceUnavailable {
		t.Fatalf("create under ServerErrorShare 1: status %d, want 503", a.status)
	}
	if a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/x", "", nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("get under ServerErrorShare 1: status %d, want 503", a.status)
	}
	for _, path := range []string{"/stats", "/faults", "/faults/after-create"} {
		if a := sb.must(t, http.MethodGet, path, "", nil); a.status != http.StatusOK {
			t.Errorf("GET %s under faults: status %d, want 200", path, a.status)
		}
	}
	// An injected failure happens before the handler: nothing was created,
	// so the same key must create the job once the fault is gone.
	if a := sb.must(t, http.MethodPut, "/faults", `{}`, nil); a.status != http.StatusOK {
		t.Fatalf("PUT /faults: status %d; body %s", a.status, a.body)
	}
	sb.createdJob(t, validBody, "k")
	st := sb.stats(t)
	if st.Faults.ServerErrors != 2 || st.Created != 1 {
		t.Errorf("stats %+v, want 2 injected server errors and 1 job", st)
	}
	if sb.srv.Faults().Settings().ServerErrorShare != 0 {
		t.Errorf("Faults() does not show the settings put over HTTP")
	}
}

func TestAfterCreateEndpoint(t *testing.T) {
	sb := start(t, Config{})
	cases := []struct {
		name      string
		method    string
		body      string
		status    int
		wantShare float64
	}{
		{"read default", http.MethodGet, "", http.StatusOK, 0},
		{"set", http.MethodPut, `{"reset_after_create_share":0.25}`, http.StatusOK, 0.25},
		{"set with POST", http.MethodPost, `{"reset_after_create_share":0.5}`, http.StatusOK, 0.5},
		// Refused settings keep the previous share.
		{"share above 1", http.MethodPut, `{"reset_after_create_share":1.5}`, http.StatusBadRequest, 0.5},
		// A typo must not silently leave the fault off.
		{"unknown key", http.MethodPut, `{"reset_share":1}`, http.StatusBadRequest, 0.5},
		{"not JSON", http.MethodPut, `{`, http.StatusBadRequest, 0.5},
		{"turn off", http.MethodPut, `{"reset_after_create_share":0}`, http.StatusOK, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := sb.must(t, tc.method, "/faults/after-create", tc.body, nil)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", a.status, tc.status, a.body)
			}
			if tc.status == http.StatusOK {
				if got := decode[afterCreateSettings](t, a).ResetAfterCreateShare; got != tc.wantShare {
					t.Errorf("answer share %v, want %v", got, tc.wantShare)
				}
			}
			if got := sb.srv.ResetAfterCreateShare(); got != tc.wantShare {
				t.Errorf("share now %v, want %v", got, tc.wantShare)
			}
		})
	}
}

func TestSetResetAfterCreateShare(t *testing.T) {
	sb := start(t, Config{})
	var ce *ConfigError
	if err := sb.srv.SetResetAfterCreateShare(-1); !errors.As(err, &ce) || ce.Key != "ResetAfterCreateShare" {
		t.Errorf("SetResetAfterCreateShare(-1) = %v, want a *ConfigError for ResetAfterCreateShare", err)
	}
	if err := sb.srv.SetResetAfterCreateShare(1); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.request(http.MethodPost, "/v2/categorization-jobs", validBody, nil); !isReset(err) {
		t.Errorf("after SetResetAfterCreateShare(1): err = %v, want the connection reset", err)
	}
	if err := sb.srv.SetResetAfterCreateShare(0); err != nil {
		t.Fatal(err)
	}
	sb.createdJob(t, validBody, "")
}
