package enablenow

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Whatever the body, creation answers 201 with a job or 400 naming at least
// one error, never a 5xx, and creates a job exactly when it answers 201.
func FuzzCreateJob(f *testing.F) {
	for _, seed := range []string{
		validBody,
		`{}`,
		`{"consentId":"c","userId":"u"}`,
		`{"accountIds":[]}`,
		`{"accountIds":["a",""]}`,
		`{"consentId":"c","metaData":{}}`,
		`{"consentId":"c","metaData":null}`,
		`{"consentId":"c","metaData":{"k":1}}`,
		`{"engine":"e2","profile":"travel","consentId":"c"}`,
		`{"consentId":1}`,
		`null`,
		`[]`,
		`{"consentId":"c"} trailing`,
		"",
	} {
		f.Add(seed, "")
		f.Add(seed, "key")
	}
	srv, err := New(Config{Token: testToken})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body, key string) {
		before := srv.stats.created.Load()
		req := httptest.NewRequest(http.MethodPost, "/v2/categorization-jobs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		created := srv.stats.created.Load() - before
		switch rec.Code {
		case http.StatusCreated:
			var j jobResource
			if err := json.Unmarshal(rec.Body.Bytes(), &j); err != nil || j.ID == "" {
				t.Fatalf("201 with body %q: %v", rec.Body, err)
			}
			if created != 1 {
				t.Fatalf("201 but %d jobs created", created)
			}
		case http.StatusOK, http.StatusBadRequest, http.StatusUnprocessableEntity:
			// 200 and 422 need a key seen before with this or another body.
			if rec.Code != http.StatusBadRequest && key == "" {
				t.Fatalf("status %d without a key", rec.Code)
			}
			if created != 0 {
				t.Fatalf("status %d but %d jobs created", rec.Code, created)
			}
			if rec.Code != http.StatusOK {
				var e apiError
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" || len(e.Errors) == 0 {
					t.Fatalf("status %d with body %q: want a message and errors", rec.Code, rec.Body)
				}
			}
		default:
			t.Fatalf("status %d for body %q; answer %s", rec.Code, body, rec.Body)
		}
	})
}
