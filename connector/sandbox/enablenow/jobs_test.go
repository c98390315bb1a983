package enablenow

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The status is derived from the clock: each step lasts StepInterval, and a
// failing job turns Failed exactly when it would have completed.
func TestStatusProgression(t *testing.T) {
	type at struct {
		after time.Duration // since creation
		want  string
	}
	cases := []struct {
		name     string
		steps    []string
		interval time.Duration
		fail     bool
		checks   []at
	}{
		{"default steps", nil, 0, false, []at{
			{0, "Queued"}, {99 * time.Millisecond, "Queued"}, {100 * time.Millisecond, "Running"},
			{199 * time.Millisecond, "Running"}, {200 * time.Millisecond, "Completed"}, {24 * time.Hour, "Completed"},
		}},
		{"default steps failing", nil, 0, true, []at{
			{0, "Queued"}, {100 * time.Millisecond, "Running"}, {199 * time.Millisecond, "Running"},
			{200 * time.Millisecond, StatusFailed}, {24 * time.Hour, StatusFailed},
		}},
		{"custom steps", []string{"Accepted", "Categorizing", "Enriching", "Done"}, time.Second, false, []at{
			{0, "Accepted"}, {time.Second, "Categorizing"}, {2 * time.Second, "Enriching"}, {3 * time.Second, "Done"},
		}},
		// With one step there is nothing to wait for: the job is final at once.
		{"single step", []string{"Done"}, 0, false, []at{{0, "Done"}, {time.Hour, "Done"}}},
		{"single step failing", []string{"Done"}, 0, true, []at{{0, StatusFailed}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			failShare := 0.0
			if tc.fail {
				failShare = 1
			}
			sb := start(t, Config{Now: clock.Now, StatusSteps: tc.steps, StepInterval: tc.interval, FailShare: failShare})
			created := sb.createdJob(t, validBody, "")
			if created.Status != tc.checks[0].want {
				t.Errorf("created with status %q, want %q", created.Status, tc.checks[0].want)
			}
			var elapsed time.Duration
			for _, c := range tc.checks {
				clock.Advance(c.after - elapsed)
				elapsed = c.after
				if got := sb.getJob(t, created.ID).Status; got != c.want {
					t.Errorf("after %v: status %q, want %q", c.after, got, c.want)
				}
				if got := sb.srv.Jobs()[0].Status; got != c.want {
					t.Errorf("after %v: Jobs() status %q, want %q", c.after, got, c.want)
				}
			}
		})
	}
}

// On the real clock a job moves forward through every step, never back,
// and ends where FailShare says. It waits on the condition with a deadline.
func TestStatusProgressionRealClock(t *testing.T) {
	cases := []struct {
		failShare float64
		final     string
	}{
		{0, "Completed"},
		{1, StatusFailed},
	}
	for _, tc := range cases {
		t.Run(tc.final, func(t *testing.T) {
			sb := start(t, Config{StepInterval: 5 * time.Millisecond, FailShare: tc.failShare})
			id := sb.createdJob(t, validBody, "").ID
			order := map[string]int{"Queued": 0, "Running": 1, "Completed": 2, StatusFailed: 2}
			seen := []string{}
			testkit.WaitFor(t, 5*time.Second, "the job to reach "+tc.final, func() (bool, string) {
				s := sb.getJob(t, id).Status
				if len(seen) == 0 || seen[len(seen)-1] != s {
					seen = append(seen, s)
				}
				return s == tc.final, fmt.Sprint(seen)
			})
			for i := 1; i < len(seen); i++ {
				if order[seen[i]] <= order[seen[i-1]] {
					t.Errorf("statuses went %v: not forward", seen)
				}
			}
		})
	}
}

func TestGetJob(t *testing.T) {
	sb := start(t, Config{MaxJobs: 2})
	created := sb.create(t, validBody, "")
	job := decode[jobResource](t, created)

	// The Location of a new job must lead to it, resolved as a client would.
	loc, err := url.Parse(created.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(sb.url + "/v2/categorization-jobs")
	if got := base.ResolveReference(loc).Path; got != "/v2/categorization-jobs/"+job.ID {
		t.Errorf("Location resolves to %s, want /v2/categorization-jobs/%s", got, job.ID)
	}
	if got := sb.getJob(t, job.ID); got.ID != job.ID || got.ConsentID != job.ConsentID {
		t.Errorf("GET returned %+v, want %+v", got, job)
	}

	cases := []struct {
		name string
		path string
		want int
	}{
		{"unknown id", "/v2/categorization-jobs/6a3b1c8e-0000-4000-8000-000000000000", http.StatusNotFound},
		{"not an id", "/v2/categorization-jobs/..%2f", http.StatusNotFound},
		{"collection", "/v2/categorization-jobs/", http.StatusNotFound},
		{"unknown route", "/v2/other", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := sb.must(t, http.MethodGet, tc.path, "", nil)
			if a.status != tc.want {
				t.Errorf("status %d, want %d; body %s", a.status, tc.want, a.body)
			}
		})
	}

	// Past MaxJobs the oldest job is dropped and reads as unknown.
	sb.createdJob(t, validBody, "")
	sb.createdJob(t, validBody, "")
	if a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/"+job.ID, "", nil); a.status != http.StatusNotFound {
		t.Errorf("dropped job: status %d, want 404", a.status)
	}
	if got := len(sb.srv.Jobs()); got != 2 {
		t.Errorf("%d jobs retained, want the bound, 2", got)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	sb := start(t, Config{})
	cases := []struct{ method, path string }{
		{http.MethodDelete, "/v2/categorization-jobs"},
		{http.MethodPut, "/v2/categorization-jobs/x"},
		{http.MethodPost, "/stats"},
		{http.MethodDelete, "/faults/after-create"},
	}
	for _, tc := range cases {
		if a := sb.must(t, tc.method, tc.path, "", nil); a.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405", tc.method, tc.path, a.status)
		}
	}
}

// It takes about half a second: net/http lingers that long before closing a
// connection whose request body it did not read to the end.
func TestCreateBodyTooLarge(t *testing.T) {
	sb := start(t, Config{})
	body := `{"consentId":"` + string(bytes.Repeat([]byte("x"), maxRequestBytes)) + `"}`
	if a := sb.create(t, body, ""); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", a.status)
	}
	if st := sb.srv.Stats(); st.Rejected != 1 {
		t.Errorf("rejected = %d, want 1", st.Rejected)
	}
}

// Jobs is a snapshot: changing it must not change the jobs.
func TestJobsSnapshotIsACopy(t *testing.T) {
	sb := start(t, Config{})
	sb.createdJob(t, `{"accountIds":["a1","a2"]}`, "k")
	jobs := sb.srv.Jobs()
	if len(jobs) != 1 || jobs[0].IdempotencyKey != "k" || jobs[0].Request.Engine != "e1" {
		t.Fatalf("Jobs() = %+v, want one job with key k and defaults applied", jobs)
	}
	jobs[0].Request.AccountIDs[0] = "changed"
	if got := sb.srv.Jobs()[0].Request.AccountIDs[0]; got != "a1" {
		t.Errorf("account id %q after changing a snapshot, want a1", got)
	}
}

func TestStatsByStatus(t *testing.T) {
	clock := newFakeClock()
	sb := start(t, Config{Now: clock.Now})
	sb.createdJob(t, validBody, "")
	sb.createdJob(t, validBody, "")
	clock.Advance(100 * time.Millisecond)
	sb.createdJob(t, validBody, "")
	sb.create(t, `{}`, "")
	want := map[string]int64{"Running": 2, "Queued": 1}
	st := sb.stats(t)
	if !maps.Equal(st.ByStatus, want) || st.Created != 3 || st.Rejected != 1 {
		t.Errorf("GET /stats = %+v, want by_status %v, created 3, rejected 1", st, want)
	}
}

var jobIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestJobIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newJobID()
		if !jobIDPattern.MatchString(id) {
			t.Fatalf("job id %q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("job id %q repeated", id)
		}
		seen[id] = true
	}
}

// The wire format of a job is pinned, so a change to it is a visible diff
// and not a surprise for the connector's decoder.
func TestJobWireFormat(t *testing.T) {
	clock := newFakeClock()
	sb := start(t, Config{Now: clock.Now})
	a := sb.create(t, `{"accountIds":["a1","a2"]}`, "")
	id := decode[jobResource](t, a).ID
	clock.Advance(150 * time.Millisecond)
	got := sb.must(t, http.MethodGet, "/v2/categorization-jobs/"+id, "", nil)
	for name, body := range map[string][]byte{"job_created.json": a.body, "job_running.json": got.body} {
		testkit.Golden(t, filepath.Join("testdata", name), bytes.ReplaceAll(body, []byte(id), []byte("00000000-0000-4000-8000-000000000000")), *update)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}
