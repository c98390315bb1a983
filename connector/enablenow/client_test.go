package enablenow_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/contactlab/connector/connector/enablenow"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

func request(t *testing.T, value string) *schemas.CategorizationRequest {
	t.Helper()
	r, err := schemas.DecodeCategorizationRequest([]byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The reference shows no authentication: the header and its scheme are
// configurable, bearer by default.
func TestClientAuthHeader(t *testing.T) {
	token := func(s string) *string { return &s }
	cases := []struct {
		name         string
		header       string
		scheme       *string
		standinHdr   string // what the stand-in expects
		wantSent     string
		wantAccepted bool
	}{
		{name: "bearer by default", wantSent: "Bearer " + testToken, wantAccepted: true},
		{name: "API-key header, no scheme", header: "X-Api-Key", scheme: token(""), standinHdr: "X-Api-Key", wantSent: testToken, wantAccepted: true},
		{name: "other scheme", scheme: token("Token"), wantSent: "Token " + testToken},
		// A scheme on an API-key header would be sent, and refused: the
		// config says what is sent, nothing is guessed.
		{name: "API-key header with the default scheme", header: "X-Api-Key", standinHdr: "X-Api-Key", wantSent: "Bearer " + testToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAPI(t, standin.Config{AuthHeader: tc.standinHdr})
			var mu sync.Mutex
			var sent string
			spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := tc.header
				if h == "" {
					h = "Authorization"
				}
				mu.Lock()
				sent = r.Header.Get(h)
				mu.Unlock()
				a.srv.Handler().ServeHTTP(w, r)
			}))
			defer spy.Close()
			c := newClient(spy.URL, func(c *service.EnableNowConfig) {
				c.AuthHeader = tc.header
				c.AuthScheme = tc.scheme
			})
			_, err := c.CreateJob(t.Context(), request(t, `{"userId":"u"}`), "k")
			if tc.wantAccepted != (err == nil) {
				t.Fatalf("accepted=%v, want %v (%v)", err == nil, tc.wantAccepted, err)
			}
			if err != nil && !errors.Is(err, streams.ErrUnauthorized) {
				t.Fatalf("a refused credential must pause, got %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if sent != tc.wantSent {
				t.Fatalf("sent %q, want %q", sent, tc.wantSent)
			}
		})
	}
}

// The job-status path is overridable and the id is escaped into it.
func TestClientJobStatusPath(t *testing.T) {
	var got string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		_, _ = w.Write([]byte(`{"status":"completed"}`))
	}))
	defer ts.Close()
	c := newClient(ts.URL+"/", func(c *service.EnableNowConfig) { c.JobStatusPath = "/v3/jobs/{id}/status" })
	job, err := c.Job(t.Context(), "a/b c")
	if err != nil {
		t.Fatal(err)
	}
	if got != "/v3/jobs/a%2Fb%20c/status" {
		t.Fatalf("path %q", got)
	}
	// The id defaults to the one asked for; terminal statuses compare
	// without case, since the reference documents none.
	if job.ID != "a/b c" || job.Status != "completed" || !job.Terminal {
		t.Fatalf("job %+v", job)
	}
}

func TestClientTerminalStatuses(t *testing.T) {
	c := newClient("http://127.0.0.1:1", nil)
	for status, want := range map[string]bool{"Completed": true, "FAILED": true, "cancelled": true, "Queued": false, "Running": false, "": false} {
		if c.IsTerminal(status) != want {
			t.Errorf("IsTerminal(%q) = %v", status, !want)
		}
	}
	c = newClient("http://127.0.0.1:1", func(c *service.EnableNowConfig) { c.TerminalStatuses = []string{"Done"} })
	if !c.IsTerminal("done") || c.IsTerminal("Completed") {
		t.Error("configured terminal statuses not used")
	}
}

// The creation answer is not shown by the reference: the client takes the
// id from the body ("id" or "jobId") or, failing that, from Location. A 2xx
// that names no job is a creation all the same (issue 10: never POSTed
// again), with the outcome created.
func TestClientCreationAnswer(t *testing.T) {
	cases := []struct {
		name, body, location string
		wantID, wantStatus   string
	}{
		{name: "id", body: `{"id":"j-1","status":"Queued"}`, wantID: "j-1", wantStatus: "Queued"},
		{name: "jobId", body: `{"jobId":"j-2","status":"Running"}`, wantID: "j-2", wantStatus: "Running"},
		{name: "Location only", body: ``, location: "/v2/categorization-jobs/j-3", wantID: "j-3"},
		{name: "relative Location", body: `{}`, location: "categorization-jobs/j-4", wantID: "j-4"},
		{name: "no id anywhere", body: `{"status":"Queued"}`, wantStatus: "Queued"},
		{name: "not JSON", body: `<html>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.location != "" {
					w.Header().Set("Location", tc.location)
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer ts.Close()
			job, err := newClient(ts.URL, nil).CreateJob(t.Context(), request(t, `{"userId":"u"}`), "k")
			if err != nil {
				t.Fatal(err)
			}
			if job.ID != tc.wantID || job.Status != tc.wantStatus || (job.ID == "") != (job.Outcome == enablenow.OutcomeCreated) {
				t.Fatalf("job %+v", job)
			}
		})
	}
}

func TestClientNeverPrintsTheToken(t *testing.T) {
	c := newClient("http://127.0.0.1:1", nil)
	if s := c.String(); strings.Contains(s, testToken) {
		t.Fatalf("String shows the token: %s", s)
	}
	_, err := c.Job(t.Context(), "j")
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Fatalf("error %v", err)
	}
}
