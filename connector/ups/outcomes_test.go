package ups

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/contactlab/connector/connector/httpapi"
	sbups "github.com/contactlab/connector/connector/sandbox/ups"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// Issue 10, change 5: the reference documents FAILED only. Against the
// sandbox answering with words of each kind: a completed word delivers; a
// failed word, and only a failed word, sends the records again; a word in
// neither list keeps the job open until the job timeout, then it is
// published UNVERIFIED and its records are committed, never sent again.
// (Before, a job without a known ending counted as FAILED at the timeout
// and was sent again: rows 2 and 4 fail on that code.)
func TestJobOutcomesFollowTheConfiguredWords(t *testing.T) {
	// Long enough for every ending job to be seen ending under load.
	const timeout = 1500 * time.Millisecond
	withWords := func(completed, failed []string) StatusWords {
		d := DefaultStatusWords()
		return StatusWords{Completed: append(d.Completed, completed...), Failed: append(d.Failed, failed...)}
	}
	cases := []struct {
		name    string
		sandbox func(*sbups.Config)
		words   StatusWords
		// want: the results' statuses in order; jobs: the jobs the API ran.
		want       []string
		jobs       int64
		reason     string // a dead letter's, "" for delivered
		unverified float64
	}{
		{name: "reference words: FAILED, and COMPLETED",
			sandbox: func(c *sbups.Config) {}, want: []string{"COMPLETED"}, jobs: 1},
		{name: "a completed word nobody configured: UNVERIFIED at the timeout",
			sandbox: func(c *sbups.Config) { c.CompletedStatus = "PROCESSED" }, want: []string{"UNVERIFIED"}, jobs: 1, unverified: 1},
		{name: "the same word, configured: COMPLETED",
			sandbox: func(c *sbups.Config) { c.CompletedStatus = "PROCESSED" }, words: withWords([]string{"processed"}, nil),
			want: []string{"COMPLETED"}, jobs: 1},
		{name: "a failed word nobody configured: UNVERIFIED, never sent again",
			sandbox: func(c *sbups.Config) { c.FailedStatus, c.JobFailShare = "BROKEN", 1 }, want: []string{"UNVERIFIED"}, jobs: 1, unverified: 1},
		{name: "the same word, configured: sent again, then dead-lettered",
			sandbox: func(c *sbups.Config) { c.FailedStatus, c.JobFailShare = "BROKEN", 1 }, words: withWords(nil, []string{"BROKEN"}),
			want: []string{"FAILED", "FAILED"}, jobs: 2, reason: "job_failed"},
		{name: "the reference's FAILED: sent again, then dead-lettered",
			sandbox: func(c *sbups.Config) { c.JobFailShare = 1 }, want: []string{"FAILED", "FAILED"}, jobs: 2, reason: "job_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb, url := startStandIn(t, tc.sandbox)
			api := testAPIConfig(url)
			api.Statuses = tc.words
			api.JobTimeout = timeout
			h := startSink(t, api, func(c *SinkConfig) { c.MaxJobAttempts = 2 })
			start := time.Now()
			errs := write(t, h.sink, []*streams.Record{record("alice", 1, attrValue(1))})
			var re *streams.RejectError
			switch {
			case tc.reason == "" && errs[0] != nil:
				t.Fatalf("outcome %v, want delivered (committed)", errs[0])
			case tc.reason != "" && (!errors.As(errs[0], &re) || re.Reason != tc.reason):
				t.Fatalf("outcome %v, want a %s dead letter", errs[0], tc.reason)
			}
			var got []string
			for _, r := range h.results.results() {
				got = append(got, r.Status)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("results %v, want %v", got, tc.want)
			}
			if st := sb.Stats(); st.Jobs != tc.jobs {
				t.Fatalf("the API ran %d jobs, want %d", st.Jobs, tc.jobs)
			}
			if tc.unverified > 0 && time.Since(start) < timeout {
				t.Fatalf("UNVERIFIED after %s, before the job timeout", time.Since(start))
			}
			var m dto.Metric
			if err := h.sink.follower.m.unverified.Write(&m); err != nil {
				t.Fatal(err)
			}
			if n := m.GetCounter().GetValue(); n != tc.unverified {
				t.Fatalf("connector_ups_jobs_unverified_total %v, want %v", n, tc.unverified)
			}
		})
	}
}

// While a job waits for a word that ends it, other work goes on: the next
// requests are sent and their jobs followed beside it, each waiting on its
// own, none in turn behind it. (Their ending, UNVERIFIED at the timeout, is
// TestJobOutcomesFollowTheConfiguredWords's.)
func TestUnverifiedJobsDoNotHoldOtherWorkBack(t *testing.T) {
	const users = 40
	sb, url := startStandIn(t, func(c *sbups.Config) { c.CompletedStatus = "PROCESSED" })
	api := testAPIConfig(url)
	api.JobTimeout = time.Minute // longer than the test: nothing ends
	api.MaxRecords = 1           // one job per record
	h := startSink(t, api, nil)
	first := []*streams.Record{record("alice", 0, attrValue(0))}
	o := newOutcomes(t, first)
	h.sink.Write(context.Background(), first, o.done)
	waitFor(t, 10*time.Second, "alice's job to be followed", func() bool { return h.sink.follower.Following() == 1 })
	var batch []*streams.Record
	for i := range users {
		batch = append(batch, record(fmt.Sprintf("u%02d", i), int64(i+1), attrValue(i)))
	}
	later := newOutcomes(t, batch)
	h.sink.Write(context.Background(), batch, later.done)
	waitFor(t, 20*time.Second, "every other record sent and followed while alice's job waits", func() bool {
		return sb.Stats().Jobs == users+1 && h.sink.follower.Following() == users+1
	})
	if o.left() != 1 || later.left() != users {
		t.Fatalf("outcomes before any job ended: alice %d missing, others %d of %d missing", o.left(), later.left(), users)
	}
	h.stop()
}

// The token request's style (the reference's curl example: form fields;
// its prose: a query string) and the paths are settings: against the
// sandbox taking one style only, mounted under a prefix, the matching
// setting delivers and the other is a credential refusal (the pipeline
// pauses), never a dead letter.
func TestTokenStyleAndPathsAgainstTheSandbox(t *testing.T) {
	cases := []struct {
		sandbox, client sbups.TokenStyle
		ok              bool
	}{
		{sbups.TokenStyleForm, sbups.TokenStyle(TokenStyleForm), true},
		{sbups.TokenStyleQuery, sbups.TokenStyle(TokenStyleQuery), true},
		{sbups.TokenStyleForm, sbups.TokenStyle(TokenStyleQuery), false},
		{sbups.TokenStyleQuery, sbups.TokenStyle(TokenStyleForm), false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("sandbox %s, client %s", tc.sandbox, tc.client), func(t *testing.T) {
			srv, err := sbups.New(sbups.Config{ClientID: testClientID, ClientSecret: testSecret, APIKey: testAPIKey,
				JobDuration: 20 * time.Millisecond, TokenStyle: tc.sandbox})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle("/gw/", http.StripPrefix("/gw", srv.Handler()))
			hs := httptest.NewServer(mux)
			defer hs.Close()
			api := testAPIConfig(hs.URL)
			api.TokenStyle = TokenStyle(tc.client)
			d := DefaultPaths()
			api.Paths = Paths{Enrich: "/gw" + d.Enrich, Status: "/gw" + d.Status, Token: "/gw" + d.Token, StatusToken: "/gw" + d.StatusToken}
			h := startSink(t, api, nil)
			errs := write(t, h.sink, []*streams.Record{record("alice", 1, attrValue(1))})
			switch {
			case tc.ok && errs[0] != nil:
				t.Fatalf("outcome %v", errs[0])
			case !tc.ok && (!errors.Is(errs[0], streams.ErrUnauthorized) || errors.Is(errs[0], streams.ErrRejected)):
				t.Fatalf("outcome %v, want a credential refusal", errs[0])
			}
			if strings.Contains(fmt.Sprint(errs[0]), testSecret) {
				t.Fatalf("the secret leaks: %v", errs[0])
			}
			if tc.ok && srv.Stats().RecordsAccepted != 1 {
				t.Fatalf("stats %+v", srv.Stats())
			}
		})
	}
}

// The sandbox is a witness of the reference, not an echo of the connector:
// a request the connector's client sends as given, which the reference
// forbids (a preference verb it does not list), is refused with the rule
// it breaks, by the sandbox's own rules; nothing is stored.
func TestSandboxRefusesWhatTheReferenceForbids(t *testing.T) {
	sb, url := startStandIn(t, nil)
	c := NewClient(testAPIConfig(url).Options, nil)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"data":[{"userId":"u","value":{"like":["p1"],"love":["p2"]}}]}`))
	_ = zw.Close()
	_, err := c.Enrich(context.Background(), schemas.UserPreferences, buf.Bytes())
	var se *httpapi.StatusError
	if !errors.Is(err, streams.ErrRejected) || !errors.As(err, &se) || se.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "$.value.love") {
		t.Fatalf("want the sandbox's 400 naming $.value.love, got %v", err)
	}
	if st := sb.Stats(); st.RecordsAccepted != 0 || st.Jobs != 0 {
		t.Fatalf("stats %+v: the forbidden request was taken", st)
	}
}

// Through the runtime, over Kafka: records whose jobs end UNVERIFIED are
// committed (the group catches up), none is dead-lettered or sent again.
func TestPipelineCommitsUnverifiedJobs(t *testing.T) {
	const n = 100
	sb, url := startStandIn(t, func(c *sbups.Config) { c.CompletedStatus = "PROCESSED" })
	broker := brokerWithUsers(t, n)
	api := testAPIConfig(url)
	api.JobTimeout = 300 * time.Millisecond
	h := newSink(t, api, nil)
	p := testPipeline(t, broker, "ups-unverified", 5*time.Second, h.sink)
	stop := testkit.Run(t, p.Run)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()
	streamstest.WaitFor(t, 30*time.Second, "every record committed", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, "ups-unverified", "profiles")
	})
	st := sb.Stats()
	if c := p.Counts(); c.Delivered != n || c.DeadLettered != 0 || st.RecordsAccepted != n {
		t.Fatalf("counts %+v; the API accepted %d records", c, st.RecordsAccepted)
	}
	for _, r := range h.results.results() {
		if r.Status != "UNVERIFIED" || r.StatusWord != "PROCESSED" {
			t.Fatalf("result %+v, want UNVERIFIED with the service's word", r)
		}
	}
	if int64(len(h.results.results())) != st.Jobs {
		t.Fatalf("%d results for %d jobs", len(h.results.results()), st.Jobs)
	}
}
