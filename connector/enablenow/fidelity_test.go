package enablenow_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/connector/httpapi"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

var quiet = slog.New(slog.DiscardHandler)

// posts counts the creations the stand-in at a received.
func posts(a *api) int { return len(a.createBodies()) }

// Issue 10, change 6: the reference shows no creation answer. Against the
// sandbox answering each way, a 2xx is a creation: the record is delivered
// and never POSTed again, and an answer that names no job is published as
// created, with no id and nothing followed. (Before, an answer without an
// id was an error, and the retry POSTed again.)
func TestSinkTakesEveryCreationAnswer(t *testing.T) {
	cases := []struct {
		answer     standin.CreateAnswer
		wantID     bool
		wantStatus string
		wantFinal  bool
	}{
		{standin.CreateAnswerResource, true, "Queued", false},
		{standin.CreateAnswerNoID, false, "Queued", true},
		{standin.CreateAnswerEmpty, false, enablenow.OutcomeCreated, true},
	}
	for _, tc := range cases {
		t.Run(string(tc.answer), func(t *testing.T) {
			a := startAPI(t, standin.Config{CreateAnswer: tc.answer})
			sink, mon, res := monitored(t, a, enablenow.MonitorConfig{MaxJobs: 1})
			runMonitor(t, mon)
			r := record("u-1", `{"userId":"u-1"}`)
			if err := write(t, sink, r); err != nil {
				t.Fatalf("outcome %v, want delivered", err)
			}
			got := res.all()
			if len(got) != 1 || (got[0].JobID != "") != tc.wantID || got[0].Status != tc.wantStatus || got[0].Final != tc.wantFinal {
				t.Fatalf("results %+v", got)
			}
			if !tc.wantID && got[0].Outcome != enablenow.OutcomeCreated {
				t.Fatalf("outcome %q, want created", got[0].Outcome)
			}
			if posts(a) != 1 || a.srv.JobsFor(enablenow.RecordIdempotencyKey(r)) != 1 {
				t.Fatalf("%d POSTs, %d jobs; want one of each", posts(a), a.srv.JobsFor(enablenow.RecordIdempotencyKey(r)))
			}
			if !tc.wantID && mon.Stats().Following != 0 {
				t.Fatal("a job without an id is followed")
			}
		})
	}
}

// After a 2xx the request is not POSTed again, even when its result could
// not be published: the retry publishes the job the creation answered.
// (Before, the retry POSTed again and relied on the idempotency key.)
func TestSinkNeverPostsAgainAfterA2xx(t *testing.T) {
	a := startAPI(t, standin.Config{})
	sink, res := unmonitoredSink(a)
	res.failNext.Store(2)
	r := record("c-1", `{"consentId":"c-1"}`)
	for attempt := 1; attempt <= 3; attempt++ {
		r.Attempts = attempt
		err := write(t, sink, r)
		if attempt < 3 && !errors.Is(err, errKafkaDown) {
			t.Fatalf("attempt %d: %v, want the publish failure", attempt, err)
		}
		if attempt == 3 && err != nil {
			t.Fatalf("attempt 3: %v", err)
		}
	}
	if posts(a) != 1 {
		t.Fatalf("%d POSTs for one 2xx", posts(a))
	}
	if got := res.all(); len(got) != 1 || got[0].JobID == "" || got[0].Replayed {
		t.Fatalf("results %+v, want the one creation", got)
	}
}

// Engines other than e1 are forwarded with their own fields: the e1 rules
// are e1's. The sandbox takes them by default; one that serves e1 only
// refuses them, and the record is dead-lettered with the API's reason.
// (Before, the connector refused them as invalid without a call.)
func TestSinkForwardsOtherEngines(t *testing.T) {
	const value = `{"engine": "e2", "profile": "travel", "countryCode": "be", "metaData": {"source": "appscreen"}, "locale": "nl-BE", "userId": "u"}`
	a := startAPI(t, standin.Config{})
	sink, _ := unmonitoredSink(a)
	if err := write(t, sink, record("u", value)); err != nil {
		t.Fatal(err)
	}
	if bodies := a.createBodies(); len(bodies) != 1 || !sameJSON([]byte(bodies[0]), []byte(value)) {
		t.Fatalf("sent %q, want the request as it came", bodies)
	}
	if jobs := a.srv.Jobs(); len(jobs) != 1 || jobs[0].Request.Engine != "e2" {
		t.Fatalf("jobs %+v", jobs)
	}
	// E1 is not e1 (values are case-sensitive): forwarded too.
	if err := write(t, sink, record("u", `{"engine":"E1","userId":"u"}`)); err != nil {
		t.Fatal(err)
	}

	only := startAPI(t, standin.Config{Engines: []string{"e1"}})
	sink, _ = unmonitoredSink(only)
	err := write(t, sink, record("u", value))
	if !errors.Is(err, streams.ErrRejected) || !strings.Contains(err.Error(), "engine") {
		t.Fatalf("against an API serving e1 only: %v, want its 400 dead-lettered", err)
	}
}

// The status words are lists: a word of the completed or failed list ends
// the job with that outcome, and a job whose word is in no list (or that
// has none) is followed until monitor_timeout, then let go.
func TestMonitorStatusWords(t *testing.T) {
	// Long enough for every ending job to be seen ending under load.
	const timeout = time.Second
	cases := []struct {
		name        string
		sandbox     standin.Config
		config      func(*service.EnableNowConfig)
		wantStatus  string
		wantOutcome string
		gaveUp      bool
	}{
		{name: "the default words", sandbox: standin.Config{},
			wantStatus: "Completed", wantOutcome: enablenow.OutcomeCompleted},
		{name: "a failed word", sandbox: standin.Config{FailShare: 1},
			wantStatus: "Failed", wantOutcome: enablenow.OutcomeFailed},
		{name: "a word nobody configured", sandbox: standin.Config{StatusSteps: []string{"Queued", "Processed"}},
			wantStatus: "Processed", gaveUp: true},
		{name: "the same word, configured", sandbox: standin.Config{StatusSteps: []string{"Queued", "Processed"}},
			config: func(c *service.EnableNowConfig) {
				c.TerminalStatuses, c.CompletedStatuses = []string{"Processed", "Failed"}, []string{"processed"}
			},
			wantStatus: "Processed", wantOutcome: enablenow.OutcomeCompleted},
		{name: "a failed word, configured", sandbox: standin.Config{FailedStatus: "Broken", FailShare: 1},
			config: func(c *service.EnableNowConfig) {
				c.TerminalStatuses, c.FailedStatuses = []string{"Completed", "Broken"}, []string{"broken"}
			},
			wantStatus: "Broken", wantOutcome: enablenow.OutcomeFailed},
		{name: "no word at all", sandbox: standin.Config{OmitStatus: true}, gaveUp: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.sandbox.StepInterval = 20 * time.Millisecond
			a := startAPI(t, tc.sandbox)
			client := newClient(a.url, tc.config)
			res := &memResults{}
			mon, err := enablenow.NewJobMonitor(enablenow.MonitorConfig{Name: "m", PollInterval: 10 * time.Millisecond, MaxJobs: 1, Timeout: timeout, Logger: quiet}, client, res)
			if err != nil {
				t.Fatal(err)
			}
			runMonitor(t, mon)
			sink := enablenow.NewCategorizationSink(client, res, mon, quiet, nil)
			if err := write(t, sink, record("u", `{"userId":"u"}`)); err != nil {
				t.Fatal(err)
			}
			final := finals(t, res, 1)
			for _, f := range final {
				if f.Status != tc.wantStatus || f.Outcome != tc.wantOutcome || (f.Error != "") != tc.gaveUp {
					t.Fatalf("final %+v, want status %q, outcome %q, given up %v", f, tc.wantStatus, tc.wantOutcome, tc.gaveUp)
				}
			}
		})
	}
}

// A job whose status cannot be read never holds its monitoring place past
// monitor_timeout: here every read is throttled with a Retry-After of an
// hour, and the next record, which needs the one place, is created about
// monitor_timeout later. (Before, the back-off kept the place for the hour.)
func TestMonitorLetsGoAtTheTimeoutWhateverTheReads(t *testing.T) {
	const timeout, poll = 400 * time.Millisecond, 20 * time.Millisecond
	a := startAPI(t, standin.Config{StepInterval: time.Hour})
	client := newClient(a.url, nil)
	res := &memResults{}
	mon, err := enablenow.NewJobMonitor(enablenow.MonitorConfig{Name: "m", PollInterval: poll, MaxJobs: 1, Timeout: timeout, Logger: quiet}, client, res)
	if err != nil {
		t.Fatal(err)
	}
	runMonitor(t, mon)
	sink := enablenow.NewCategorizationSink(client, res, mon, quiet, nil)
	start := time.Now()
	if err := write(t, sink, record("a", `{"userId":"a"}`)); err != nil {
		t.Fatal(err)
	}
	// From now on the API throttles every call for an hour; the next
	// creation gets through only when the fault is lifted, below.
	a.srv.Faults().Set(fault.Settings{ThrottleShare: 1, RetryAfter: fault.Duration(time.Hour)})
	streamstest.WaitFor(t, 10*time.Second, "the place given back at the timeout", func() (bool, string) {
		return mon.Stats().Following == 0, fmt.Sprintf("%+v", mon.Stats())
	})
	if took := time.Since(start); took < timeout || took > timeout+2*poll+3*time.Second {
		t.Fatalf("place given back %s after the creation; want about %s", took, timeout)
	}
	final := finals(t, res, 1)
	for _, f := range final {
		if !strings.Contains(f.Error, "not ended after") {
			t.Fatalf("final %+v, want the timeout named", f)
		}
	}
	a.srv.Faults().Set(fault.Settings{})
	if err := write(t, sink, record("b", `{"userId":"b"}`)); err != nil {
		t.Fatal(err)
	}
}

// Issue 10, change 8: no record is POSTed again once the idempotency
// window has passed since its first attempt, paused time included. The
// first POST creates the job but its answer is lost; the credential is then
// refused (the runtime pauses, which its retry budget does not count) for
// longer than the window, after which the sandbox has forgotten the key.
// The retry is dead-lettered (idempotency_window) instead of creating a
// second job. (Before, it created one.)
func TestSinkNeverPostsOutsideTheIdempotencyWindow(t *testing.T) {
	const window = 300 * time.Millisecond
	a := startAPI(t, standin.Config{IdempotencyWindow: window, ResetAfterCreateShare: 1})
	sink := enablenow.NewCategorizationSink(newClient(a.url, nil), &memResults{}, nil, nil, nil,
		enablenow.IdempotencyWindow(window, 5*time.Second))
	r := record("c-1", `{"consentId":"c-1"}`)
	key := enablenow.RecordIdempotencyKey(r)
	if err := write(t, sink, r); err == nil || errors.Is(err, streams.ErrRejected) {
		t.Fatalf("first attempt: %v, want a retryable reset", err)
	}
	if err := a.srv.SetResetAfterCreateShare(0); err != nil {
		t.Fatal(err)
	}
	// Paused on a refused credential: the runtime retries without counting.
	a.srv.Faults().Set(fault.Settings{UnauthorizedFor: fault.Duration(time.Hour)})
	r.Attempts++
	if err := write(t, sink, r); !errors.Is(err, streams.ErrUnauthorized) {
		t.Fatalf("second attempt: %v, want the pause", err)
	}
	streamstest.WaitFor(t, 5*time.Second, "the window to pass", func() (bool, string) {
		return a.srv.JobsFor(key) == 1 && time.Since(a.srv.Jobs()[0].CreatedAt) > window, ""
	})
	a.srv.Faults().Set(fault.Settings{})
	r.Attempts++
	err := write(t, sink, r)
	var re *streams.RejectError
	if !errors.As(err, &re) || re.Reason != "idempotency_window" || !errors.Is(err, enablenow.ErrIdempotencyWindow) {
		t.Fatalf("attempt after the window: %v, want an idempotency_window dead letter", err)
	}
	if n := a.srv.JobsFor(key); n != 1 {
		t.Fatalf("%d jobs for one request", n)
	}
}

// The sandbox is a witness of the reference, not an echo of the connector:
// a request the connector's client sends as given, which the reference
// forbids (a profile other than retail for e1), is refused by the
// sandbox's own rules.
func TestSandboxRefusesWhatTheReferenceForbids(t *testing.T) {
	a := startAPI(t, standin.Config{})
	_, err := newClient(a.url, nil).CreateJob(t.Context(), &schemas.CategorizationRequest{Engine: "e1", Profile: "business", UserID: "u"}, "k")
	var se *httpapi.StatusError
	if !errors.Is(err, streams.ErrRejected) || !errors.As(err, &se) || se.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "profile") {
		t.Fatalf("want the sandbox's 400 naming the profile, got %v", err)
	}
	if a.srv.Stats().Created != 0 {
		t.Fatal("the forbidden request created a job")
	}
}

// Change 8 through the runtime, over Kafka: the runtime's retry budget does
// not count the pause on a refused credential, so only the sink's own
// deadline keeps the retry after a long pause from POSTing outside the
// window. The record is dead-lettered with reason idempotency_window, its
// offset committed, and the API holds one job.
func TestPipelineDeadLettersRetriesPastTheWindow(t *testing.T) {
	const window = 400 * time.Millisecond
	broker := streamstest.Broker(t, 1, "categorization.requests", "categorization.dlq")
	streamstest.Produce(t, broker, "categorization.requests", kafka.Message{Key: []byte("c-1"), Value: []byte(`{"consentId":"c-1"}`)})
	srv, err := standin.New(standin.Config{Token: testToken, IdempotencyWindow: window, ResetAfterCreateShare: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The first creation is made and its answer lost; from then on the
	// credential is refused for twice the window, then taken again.
	var mu sync.Mutex
	var refusedUntil time.Time
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		until := refusedUntil
		mu.Unlock()
		if time.Now().Before(until) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if until.IsZero() && r.Method == http.MethodPost {
			mu.Lock()
			refusedUntil = time.Now().Add(2 * window)
			mu.Unlock()
		}
		srv.Handler().ServeHTTP(w, r)
		_ = srv.SetResetAfterCreateShare(0)
	}))
	t.Cleanup(ts.Close) // after the pipeline stopped
	sink := enablenow.NewCategorizationSink(newClient(ts.URL, nil), &memResults{}, nil, quiet, nil,
		enablenow.IdempotencyWindow(window, 5*time.Second))
	pipeline(t, broker, "window-test", sink, func(c *streams.PipelineConfig) {
		// A budget well inside the window: paused time is not counted, so
		// it never runs out during the pause.
		c.Retry = streams.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsed: window / 2}
	})
	var dl []kafka.Message
	streamstest.WaitFor(t, 15*time.Second, "the dead letter", func() (bool, string) {
		dl = streamstest.ReadAll(t, broker, "categorization.dlq")
		return len(dl) == 1, fmt.Sprint(len(dl), " dead letters")
	})
	if h := streamstest.Headers(dl[0]); h[streams.HeaderDLQReason] != "idempotency_window" {
		t.Fatalf("dead letter headers %v, want reason idempotency_window", h)
	}
	streamstest.WaitFor(t, 10*time.Second, "the offset committed", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, "window-test", "categorization.requests")
	})
	if n := len(srv.Jobs()); n != 1 {
		t.Fatalf("%d jobs for one request", n)
	}
}
