package ups

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/streams"
)

// scriptedAPI accepts every enrichment request and answers status reads
// from a script: the status service's answers for the nth read of a job.
type scriptedAPI struct {
	jobs   atomic.Int64
	mu     sync.Mutex
	reads  map[string]int
	script func(job string, read int, q string) (status int, body string)
	// hang, when set and true for a read, holds it until the client gives
	// up on it.
	hang func(job string, read int) bool
}

func (a *scriptedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.Contains(r.URL.Path, "/job/"):
		job := strings.Split(strings.TrimPrefix(r.URL.Path, "/common-status/v1/608/job/"), "/")[0]
		a.mu.Lock()
		a.reads[job]++
		n := a.reads[job]
		a.mu.Unlock()
		if a.hang != nil && a.hang(job, n) {
			<-r.Context().Done()
			return
		}
		status, body := a.script(job, n, r.URL.RawQuery)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	default:
		_, _ = fmt.Fprintf(w, `{"version":%d,"jobId":"job-%d","message":"Accepted"}`, a.jobs.Add(1), a.jobs.Load())
	}
}

func statusBody(status string, pageToken string, messages ...string) string {
	var res []string
	for _, m := range messages {
		res = append(res, fmt.Sprintf(`{"message":%q,"level":"ERROR"}`, m))
	}
	res = append(res, `{"message":"Validated and accepted 1 records for processing","level":"SUMMARY"}`)
	pg := ""
	if pageToken != "" {
		pg = fmt.Sprintf(`"pagination":{"rows":%d,"nextPageToken":%q},`, len(res), pageToken)
	}
	return fmt.Sprintf(`{%s"summary":{"job-status":%q,"job":{"status":%q}},"result":[%s]}`, pg, status, status, strings.Join(res, ","))
}

func TestFollowerReadsPagedErrorsOfFailedJobs(t *testing.T) {
	api := &scriptedAPI{reads: map[string]int{}, script: func(job string, read int, q string) (int, string) {
		switch {
		case read == 1:
			return 404, `{"message":"unknown job"}` // not known yet: read again
		case read == 2:
			return 200, statusBody("RUNNING", "")
		case strings.Contains(q, "pageToken=p2"):
			return 200, statusBody("FAILED", "", "write failed (page 2)")
		default:
			return 200, statusBody("FAILED", "p2", "write failed (page 1)")
		}
	}}
	hs := serveFakeAPI(t, api)
	h := startSink(t, testAPIConfig(hs.URL), func(c *SinkConfig) { c.MaxJobAttempts = 2 })
	errs := write(t, h.sink, []*streams.Record{record("alice", 1, attrValue(1))})
	var re *streams.RejectError
	var jf *JobFailedError
	if !errors.As(errs[0], &re) || re.Reason != "job_failed" || !errors.As(errs[0], &jf) {
		t.Fatalf("outcome %v; want a job_failed rejection", errs[0])
	}
	if jf.Attempts != 2 || strings.Join(jf.Messages, "|") != "write failed (page 1)|write failed (page 2)" {
		t.Fatalf("dead-letter cause %+v", jf)
	}
	res := h.results.results()
	if len(res) != 2 || res[0].Attempt != 1 || res[1].Attempt != 2 || res[0].Status != "FAILED" || len(res[1].Errors) != 2 {
		t.Fatalf("results %+v", res)
	}
}

func TestFollowerGivesUpOnJobsWithoutAnOutcome(t *testing.T) {
	// The status service never says the first job ended. Issue 10: the
	// reference documents FAILED only, so a job still RUNNING at the job
	// timeout is published UNVERIFIED and its record committed; it is not
	// sent again (before, it counted as FAILED and went again).
	api := &scriptedAPI{reads: map[string]int{}, script: func(job string, read int, q string) (int, string) {
		if job == "job-1" {
			return 200, statusBody("RUNNING", "")
		}
		return 200, statusBody("COMPLETED", "")
	}}
	hs := serveFakeAPI(t, api)
	api2 := testAPIConfig(hs.URL)
	api2.JobTimeout = 200 * time.Millisecond
	h := startSink(t, api2, func(c *SinkConfig) { c.JobTimeout = 200 * time.Millisecond })
	start := time.Now()
	errs := write(t, h.sink, []*streams.Record{record("alice", 1, attrValue(1))})
	if errs[0] != nil {
		t.Fatalf("outcome %v", errs[0])
	}
	res := h.results.results()
	if len(res) != 1 || res[0].Status != "UNVERIFIED" || res[0].StatusWord != "RUNNING" || !strings.Contains(res[0].Errors[0], `still "RUNNING"`) {
		t.Fatalf("results %+v", res)
	}
	if n := api.jobs.Load(); n != 1 {
		t.Fatalf("%d jobs; an UNVERIFIED job's records must not be sent again", n)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("gave up after %s, before the job timeout", d)
	}
}

// When the job timeout itself ends a status read in flight, the job's
// reason is the last word the service did give, not the cut read.
func TestJobTimeoutDuringARead(t *testing.T) {
	api := &scriptedAPI{reads: map[string]int{},
		script: func(string, int, string) (int, string) { return 200, statusBody("RUNNING", "") },
		hang:   func(job string, read int) bool { return job == "job-1" && read >= 2 },
	}
	hs := serveFakeAPI(t, api)
	cfg := testAPIConfig(hs.URL)
	cfg.JobTimeout = 300 * time.Millisecond
	h := startSink(t, cfg, func(c *SinkConfig) { c.JobTimeout = 300 * time.Millisecond })
	if errs := write(t, h.sink, []*streams.Record{record("alice", 1, attrValue(1))}); errs[0] != nil {
		t.Fatalf("outcome %v", errs[0])
	}
	res := h.results.results()
	if len(res) != 1 || res[0].Status != "UNVERIFIED" || res[0].StatusWord != "RUNNING" || !strings.Contains(res[0].Errors[0], `still "RUNNING"`) {
		t.Fatalf("results %+v", res)
	}
}

func TestJobStateWords(t *testing.T) {
	c := NewClient(testAPIConfig("http://127.0.0.1:1").Options, nil) // the default words
	for in, want := range map[string]JobState{
		"COMPLETED": JobCompleted, "completed": JobCompleted, "SUCCESS": JobCompleted,
		"FAILED": JobFailed, "Aborted": JobFailed,
		"RUNNING": JobRunning, "PENDING": JobRunning, "": JobRunning,
	} {
		if got := c.jobState(in); got != want {
			t.Errorf("jobState(%q) = %s, want %s", in, got, want)
		}
	}
}
