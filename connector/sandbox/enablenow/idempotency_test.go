package enablenow

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIdempotency(t *testing.T) {
	type post struct {
		body, key  string
		wantStatus int
		// sameAs is the index of the earlier post whose job this one must
		// return; -1 for a new job or an error.
		sameAs int
	}
	cases := []struct {
		name     string
		posts    []post
		wantJobs map[string]int // JobsFor per key
	}{
		{"replay returns the same job", []post{
			{validBody, "k1", http.StatusCreated, -1},
			{validBody, "k1", http.StatusOK, 0},
			{validBody, "k1", http.StatusOK, 0},
		}, map[string]int{"k1": 1}},
		// A client that re-encodes the same request is retrying, not
		// changing its mind: defaults and key order must not matter.
		{"replay of the same request encoded differently", []post{
			{`{"consentId":"c1"}`, "k1", http.StatusCreated, -1},
			{`{ "countryCode":"nl", "consentId":"c1", "engine":"e1", "profile":"retail" }`, "k1", http.StatusOK, 0},
		}, map[string]int{"k1": 1}},
		{"empty metaData spelled differently", []post{
			{`{"consentId":"c1"}`, "k1", http.StatusCreated, -1},
			{`{"consentId":"c1","metaData":{ }}`, "k1", http.StatusOK, 0},
			{`{"consentId":"c1","metaData":null}`, "k1", http.StatusOK, 0},
		}, map[string]int{"k1": 1}},
		{"different body with the same key", []post{
			{`{"consentId":"c1"}`, "k1", http.StatusCreated, -1},
			{`{"consentId":"c2"}`, "k1", http.StatusUnprocessableEntity, -1},
			{`{"userId":"c1"}`, "k1", http.StatusUnprocessableEntity, -1},
			{`{"consentId":"c1"}`, "k1", http.StatusOK, 0},
		}, map[string]int{"k1": 1}},
		// Ids are concatenated nowhere: ["ab"] and ["a","b"] differ.
		{"account ids split differently", []post{
			{`{"accountIds":["ab"]}`, "k1", http.StatusCreated, -1},
			{`{"accountIds":["a","b"]}`, "k1", http.StatusUnprocessableEntity, -1},
		}, map[string]int{"k1": 1}},
		{"different keys make different jobs", []post{
			{validBody, "k1", http.StatusCreated, -1},
			{validBody, "k2", http.StatusCreated, -1},
		}, map[string]int{"k1": 1, "k2": 1}},
		// Without a key the stand-in cannot tell a retry from a new request.
		{"no key makes a job per request", []post{
			{validBody, "", http.StatusCreated, -1},
			{validBody, "", http.StatusCreated, -1},
		}, map[string]int{"": 2}},
		// A broken request is refused before the key is looked at, and does
		// not use the key up.
		{"invalid body does not use the key", []post{
			{`{"consentId":"c1","userId":"u1"}`, "k1", http.StatusBadRequest, -1},
			{validBody, "k1", http.StatusCreated, -1},
		}, map[string]int{"k1": 1}},
		{"key too long", []post{
			{validBody, strings.Repeat("k", maxIdempotencyKeyLen+1), http.StatusBadRequest, -1},
		}, map[string]int{strings.Repeat("k", maxIdempotencyKeyLen+1): 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb := start(t, Config{})
			ids := make([]string, len(tc.posts))
			var created, replayed int64
			for i, p := range tc.posts {
				a := sb.create(t, p.body, p.key)
				if a.status != p.wantStatus {
					t.Fatalf("post %d: status %d, want %d; body %s", i, a.status, p.wantStatus, a.body)
				}
				replay := a.header.Get("Idempotent-Replayed") == "true"
				if replay != (p.wantStatus == http.StatusOK) {
					t.Errorf("post %d: Idempotent-Replayed = %q with status %d", i, a.header.Get("Idempotent-Replayed"), a.status)
				}
				switch p.wantStatus {
				case http.StatusCreated:
					created++
				case http.StatusOK:
					replayed++
				default:
					if e := decode[apiError](t, a); len(e.Errors) == 0 {
						t.Errorf("post %d: error answer names no rule: %s", i, a.body)
					}
					continue
				}
				ids[i] = decode[jobResource](t, a).ID
				if p.sameAs >= 0 && ids[i] != ids[p.sameAs] {
					t.Errorf("post %d: job %s, want the job of post %d, %s", i, ids[i], p.sameAs, ids[p.sameAs])
				}
			}
			for key, want := range tc.wantJobs {
				if got := sb.srv.JobsFor(key); got != want {
					t.Errorf("JobsFor(%.20q) = %d, want %d", key, got, want)
				}
			}
			st := sb.srv.Stats()
			if st.Created != created || st.Replayed != replayed {
				t.Errorf("stats created=%d replayed=%d, want %d and %d", st.Created, st.Replayed, created, replayed)
			}
		})
	}
}

// The bug this guards: the answer is lost after the job was created, the
// client retries, and a second job appears. With a key the retry must land
// on the first job; without one the duplicate is what a client must expect.
func TestResetAfterCreate(t *testing.T) {
	cases := []struct {
		name     string
		key      string
		wantJobs int
	}{
		{"retry with key finds the job", "retry-1", 1},
		{"retry without key duplicates the job", "", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb := start(t, Config{ResetAfterCreateShare: 1})
			var h map[string]string
			if tc.key != "" {
				h = map[string]string{"Idempotency-Key": tc.key}
			}
			_, err := sb.request(http.MethodPost, "/v2/categorization-jobs", validBody, h)
			if !isReset(err) {
				t.Fatalf("first attempt: err = %v, want the connection reset", err)
			}
			// The job was committed before the reset: this is what makes
			// the failure ambiguous for the client.
			jobs := sb.srv.Jobs()
			if len(jobs) != 1 {
				t.Fatalf("after the reset %d jobs exist, want 1", len(jobs))
			}

			a, err := sb.request(http.MethodPost, "/v2/categorization-jobs", validBody, h)
			if tc.key == "" {
				// A second new job loses its answer as well.
				if !isReset(err) {
					t.Fatalf("retry without key: err = %v, want the connection reset", err)
				}
			} else {
				if err != nil {
					t.Fatalf("retry: %v", err)
				}
				if a.status != http.StatusOK || a.header.Get("Idempotent-Replayed") != "true" {
					t.Fatalf("retry: status %d, replayed %q; want 200 and true; body %s",
						a.status, a.header.Get("Idempotent-Replayed"), a.body)
				}
				if got := decode[jobResource](t, a).ID; got != jobs[0].ID {
					t.Errorf("retry returned job %s, want the job created before the reset, %s", got, jobs[0].ID)
				}
			}
			if got := len(sb.srv.Jobs()); got != tc.wantJobs {
				t.Errorf("%d jobs, want %d", got, tc.wantJobs)
			}
			if got := sb.srv.JobsFor(tc.key); got != tc.wantJobs {
				t.Errorf("JobsFor(%q) = %d, want %d", tc.key, got, tc.wantJobs)
			}
			if st := sb.srv.Stats(); st.ResetsAfterCreate != int64(tc.wantJobs) || st.Created != int64(tc.wantJobs) {
				t.Errorf("stats resets=%d created=%d, want %d each", st.ResetsAfterCreate, st.Created, tc.wantJobs)
			}
		})
	}
}

// Concurrent retries of one request must not race past the key: exactly
// one creates the job, all others replay it.
func TestIdempotencyConcurrent(t *testing.T) {
	sb := start(t, Config{})
	const n = 16
	var wg sync.WaitGroup
	answers := make([]answer, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = sb.request(http.MethodPost, "/v2/categorization-jobs", validBody,
				map[string]string{"Idempotency-Key": "same"})
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	statuses := map[int]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		statuses[answers[i].status]++
		ids[decode[jobResource](t, answers[i]).ID] = true
	}
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != n-1 || len(ids) != 1 {
		t.Errorf("statuses %v over %d job ids, want one 201, %d 200 and one job", statuses, len(ids), n-1)
	}
	if got := sb.srv.JobsFor("same"); got != 1 {
		t.Errorf("JobsFor = %d, want 1", got)
	}
}

// A key is remembered for the window and no longer; a retry after it
// creates a new job, as the real API would.
func TestIdempotencyWindow(t *testing.T) {
	clock := newFakeClock()
	sb := start(t, Config{Now: clock.Now, IdempotencyWindow: time.Hour})
	first := sb.createdJob(t, validBody, "k")
	clock.Advance(time.Hour - time.Nanosecond)
	if a := sb.create(t, validBody, "k"); a.status != http.StatusOK {
		t.Fatalf("inside the window: status %d, want 200", a.status)
	}
	clock.Advance(time.Nanosecond)
	second := sb.createdJob(t, validBody, "k")
	if second.ID == first.ID {
		t.Errorf("after the window the key returned the old job %s", first.ID)
	}
	// The new job starts a window of its own.
	if a := sb.create(t, validBody, "k"); a.status != http.StatusOK || decode[jobResource](t, a).ID != second.ID {
		t.Errorf("replay after renewal: status %d body %s, want 200 with job %s", a.status, a.body, second.ID)
	}
	if got := sb.srv.JobsFor("k"); got != 2 {
		t.Errorf("JobsFor = %d, want 2", got)
	}
}

// Memory is bounded: past MaxIdempotencyKeys the oldest key is forgotten
// even inside its window, and the newer ones still replay.
func TestIdempotencyKeyBound(t *testing.T) {
	sb := start(t, Config{MaxIdempotencyKeys: 2})
	for _, k := range []string{"k1", "k2", "k3"} {
		sb.createdJob(t, validBody, k)
	}
	if got := len(sb.srv.jobs.keys.byKey); got != 2 {
		t.Errorf("%d keys remembered, want the bound, 2", got)
	}
	for _, k := range []string{"k2", "k3"} {
		if a := sb.create(t, validBody, k); a.status != http.StatusOK {
			t.Errorf("key %s: status %d, want 200", k, a.status)
		}
	}
	if a := sb.create(t, validBody, "k1"); a.status != http.StatusCreated {
		t.Errorf("forgotten key k1: status %d, want 201", a.status)
	}
}

// A replay is answered even when the job itself was dropped by MaxJobs:
// the key holds the job, so an answer lost long ago can still be recovered.
func TestReplayAfterJobDropped(t *testing.T) {
	sb := start(t, Config{MaxJobs: 1})
	first := sb.createdJob(t, validBody, "k1")
	sb.createdJob(t, validBody, "k2")
	a := sb.create(t, validBody, "k1")
	if a.status != http.StatusOK || decode[jobResource](t, a).ID != first.ID {
		t.Errorf("replay of a dropped job: status %d body %s, want 200 with %s", a.status, a.body, first.ID)
	}
}
