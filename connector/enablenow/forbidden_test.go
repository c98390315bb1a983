package enablenow_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/enablenow"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
	"github.com/contactlab/connector/streams/streamstest"
)

// withdrawn is a consent the stand-in's credential may not categorize
// (standin.Config.ForbiddenSubjects): its creation, and the reads of its
// jobs, are answered 403 while every other request works.
const withdrawn = "withdrawn-consent"

// The two 403s at the sink, one record at a time: a record's own 403 is
// dead-lettered once a cheap read shows the credential works, whether the
// client knows a job to read or only the id that names none (404); a
// revoked credential, a probe read that proves nothing (a 404 of a path
// naming no job) and forbidden: pause all pause.
func TestSinkTellsARecordsOwn403FromARefusedCredential(t *testing.T) {
	cases := []struct {
		name      string
		revoked   bool
		seenJob   bool // a job is created before the refused record
		forbidden string
		probePath string
		want      delivery.Action
		wantGets  int // probe reads sent
	}{
		// A probe after each of the two askings.
		{name: "record refused, a job known", seenJob: true, want: delivery.DeadLetter, wantGets: 2},
		{name: "record refused, no job known yet", want: delivery.DeadLetter, wantGets: 2},
		{name: "credential revoked", revoked: true, want: delivery.Pause, wantGets: 1},
		{name: "credential revoked after a job", seenJob: true, revoked: true, want: delivery.Pause, wantGets: 2},
		// The API answers an unknown path 404 before it knows of any job:
		// that says nothing of the credential.
		{name: "probe path naming no job, 404", probePath: "/v2/no-such-resource", want: delivery.Pause, wantGets: 1},
		// Without {id}, a 2xx is proof (here the stand-in's /stats).
		{name: "probe path naming no job, 200", probePath: "/stats", want: delivery.DeadLetter, wantGets: 2},
		{name: "every 403 pauses", forbidden: enablenow.ForbiddenPause, want: delivery.Pause, wantGets: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAPI(t, standin.Config{ForbiddenSubjects: []string{withdrawn}})
			var gets atomic.Int64
			spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					gets.Add(1)
				}
				a.srv.Handler().ServeHTTP(w, r)
			}))
			defer spy.Close()
			client := newClient(spy.URL, func(c *service.EnableNowConfig) { c.Forbidden, c.ProbePath = tc.forbidden, tc.probePath })
			sink := enablenow.NewCategorizationSink(client, &memResults{}, nil, quiet, nil)
			if tc.seenJob {
				if err := write(t, sink, record("u-0", `{"userId":"u-0"}`)); err != nil {
					t.Fatal(err)
				}
			}
			a.srv.SetRevoked(tc.revoked)
			err := write(t, sink, record("c", `{"consentId":"`+withdrawn+`"}`))
			if got := delivery.Classify(err); got != tc.want || delivery.StatusOf(err) != http.StatusForbidden {
				t.Fatalf("outcome %v (%v), want %v with the 403", got, err, tc.want)
			}
			if tc.want == delivery.DeadLetter &&
				(delivery.ReasonOf(err) != "rejected" || !strings.Contains(err.Error(), "$.consentId") || !strings.Contains(err.Error(), "credential works for other calls")) {
				t.Fatalf("dead letter %q (reason %q): want the API's answer naming the subject, and why it is the record's", err, delivery.ReasonOf(err))
			}
			if n := gets.Load(); n != int64(tc.wantGets) {
				t.Fatalf("%d probe reads, want %d", n, tc.wantGets)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error shows the token: %v", err)
			}
		})
	}
}

// pipeline runs sink over topic "categorization.requests" of broker until
// the test ends, one record at a time, in group; change, unless nil,
// adjusts the pipeline's config.
func pipeline(t *testing.T, broker, group string, sink streams.Sink, change func(*streams.PipelineConfig)) *streams.Pipeline {
	t.Helper()
	cfg := streams.PipelineConfig{
		Name: "categorization", Brokers: []string{broker}, GroupID: group, Topics: []string{"categorization.requests"},
		DeadLetterTopic: "categorization.dlq", Concurrency: 1, CommitInterval: 20 * time.Millisecond,
		Retry:          streams.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond},
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, Logger: quiet,
	}
	if change != nil {
		change(&cfg)
	}
	p, err := streams.NewPipeline(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Run(t, p.Run)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("pipeline: %v", err)
		}
	})
	return p
}

// requests produces one request record per subject, in order, on the one
// partition of "categorization.requests".
func requests(t *testing.T, broker string, consents ...string) {
	t.Helper()
	msgs := make([]kafka.Message, len(consents))
	for i, c := range consents {
		msgs[i] = kafka.Message{Key: []byte(c), Value: fmt.Appendf(nil, `{"consentId":%q}`, c)}
	}
	streamstest.Produce(t, broker, "categorization.requests", msgs...)
}

// Issue 10: a 403 that concerns one record is dead-lettered with the API's
// answer and why it is the record's, and the records after it are
// delivered: the pipeline never pauses (no record is ever retried).
func TestPipelineDeadLettersARecordsOwn403(t *testing.T) {
	broker := streamstest.Broker(t, 1, "categorization.requests", "categorization.dlq")
	requests(t, broker, "c-0", "c-1", withdrawn, "c-3", "c-4")
	a := startAPI(t, standin.Config{ForbiddenSubjects: []string{withdrawn}})
	res := &memResults{}
	p := pipeline(t, broker, "own-403", enablenow.NewCategorizationSink(newClient(a.url, nil), res, nil, quiet, nil), nil)
	streamstest.WaitFor(t, 15*time.Second, "every request committed", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, "own-403", "categorization.requests")
	})
	dl := streamstest.ReadAll(t, broker, "categorization.dlq")
	if len(dl) != 1 || string(dl[0].Key) != withdrawn {
		t.Fatalf("%d dead letters, want the withdrawn consent's alone", len(dl))
	}
	h := streamstest.Headers(dl[0])
	if h[streams.HeaderDLQReason] != "rejected" || h[streams.HeaderDLQStatus] != "403" ||
		!strings.Contains(h[streams.HeaderDLQError], "$.consentId") || !strings.Contains(h[streams.HeaderDLQError], "credential works for other calls") {
		t.Fatalf("dead letter headers %v: want reason rejected, the 403 naming the subject and why it is the record's", h)
	}
	var delivered []string
	for _, r := range res.all() {
		delivered = append(delivered, string(r.RequestKey))
	}
	if strings.Join(delivered, ",") != "c-0,c-1,c-3,c-4" {
		t.Fatalf("results for %v, want every other record, in order", delivered)
	}
	if c := p.Counts(); c.Retries != 0 || c.Delivered != 4 || c.DeadLettered != 1 {
		t.Fatalf("counts %+v: want 4 delivered, 1 dead-lettered and no retry (a pause retries)", c)
	}
	if ok, why := p.Ready(); !ok {
		t.Fatalf("pipeline not ready: %s", why)
	}
	// The refused request is asked once more, after a probe shows the
	// credential works, before it is taken for the record's.
	if st := a.srv.Stats(); st.Forbidden != 2 || st.Created != 4 {
		t.Fatalf("stand-in %+v: want the request refused twice, and four jobs", st)
	}
}

// Issue 10: a revoked credential (403 on everything) pauses the pipeline,
// and /readyz says why; nothing is dead-lettered or committed meanwhile.
// Given back, the credential lets every record through.
func TestPipelinePausesOnARevokedCredential(t *testing.T) {
	broker := streamstest.Broker(t, 1, "categorization.requests", "categorization.dlq")
	requests(t, broker, "c-0", "c-1", "c-2")
	a := startAPI(t, standin.Config{Revoked: true})
	res := &memResults{}
	p := pipeline(t, broker, "revoked", enablenow.NewCategorizationSink(newClient(a.url, nil), res, nil, quiet, nil), nil)
	streamstest.WaitFor(t, 15*time.Second, "the pause, and a probe after it", func() (bool, string) {
		ok, why := p.Ready()
		// Each attempt is a 403 and the probe's 403.
		return !ok && strings.Contains(why, "paused") && strings.Contains(why, "HTTP 403") && a.srv.Stats().Revoked >= 4, why
	})
	if dl := streamstest.ReadAll(t, broker, "categorization.dlq"); len(dl) != 0 {
		t.Fatalf("%d records dead-lettered for a revoked credential", len(dl))
	}
	if caught, _ := streamstest.CaughtUp(t, broker, "revoked", "categorization.requests"); caught || len(res.all()) != 0 {
		t.Fatal("records committed or delivered while the credential was revoked")
	}
	a.srv.SetRevoked(false)
	streamstest.WaitFor(t, 15*time.Second, "every request committed", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, "revoked", "categorization.requests")
	})
	if dl := streamstest.ReadAll(t, broker, "categorization.dlq"); len(dl) != 0 || len(res.all()) != 3 {
		for _, m := range dl {
			t.Logf("dead letter %s: %v", m.Key, streamstest.Headers(m))
		}
		t.Fatalf("%d dead letters and %d results, want none and 3", len(dl), len(res.all()))
	}
	if ok, why := p.Ready(); !ok {
		t.Fatalf("still not ready: %s", why)
	}
}

// gate holds requests at the spy until a condition on its counts holds.
type gate struct {
	mu                sync.Mutex
	changed           chan struct{} // closed and replaced at each change
	arrived, answered int           // creations
}

func (g *gate) update(f func(*gate)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
	close(g.changed)
	g.changed = make(chan struct{})
}

// await waits until cond holds, or a deadline that keeps a broken sink
// from hanging the test (the test then fails on its counts).
func (g *gate) await(cond func(*gate) bool) {
	deadline := time.After(10 * time.Second)
	for {
		g.mu.Lock()
		ok, changed := cond(g), g.changed
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			return
		}
	}
}

// A burst of record-level 403s (the runtime's workers, each with its own
// record) costs a probe or two per asking, not one per record: the 403s
// that come back while a probe is out share the next one. Each refused
// request is asked twice (the first 403 could be a credential restored
// since), so four probes are the least a burst costs; the first version
// cost one per 403.
func TestABurstOf403sCostsFewProbes(t *testing.T) {
	const n = 64
	a := startAPI(t, standin.Config{ForbiddenSubjects: []string{withdrawn}})
	var probes atomic.Int64
	g := &gate{changed: make(chan struct{})}
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			// The n creations of each asking leave together, as a burst
			// does.
			var wave int
			g.update(func(g *gate) { g.arrived++; wave = (g.arrived-1)/n + 1 })
			g.await(func(g *gate) bool { return g.arrived >= wave*n })
		case http.MethodGet:
			probes.Add(1)
			// The probe is still out when the last 403 of the burst comes
			// back, as it would be when the answers spread over more than
			// a probe's round trip.
			g.await(func(g *gate) bool { return g.answered >= g.arrived/n*n })
		}
		a.srv.Handler().ServeHTTP(w, r)
		if r.Method == http.MethodPost {
			// Before the answer is flushed, so before the sink sees it.
			g.update(func(g *gate) { g.answered++ })
		}
	}))
	defer spy.Close()
	sink := enablenow.NewCategorizationSink(newClient(spy.URL, nil), &memResults{}, nil, quiet, nil)
	outcomes := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := record(fmt.Sprint("k-", i), `{"consentId":"`+withdrawn+`"}`)
			sink.Write(t.Context(), []*streams.Record{r}, func(_ *streams.Record, err error) { outcomes <- err })
		}()
	}
	wg.Wait()
	close(outcomes)
	got := 0
	for err := range outcomes {
		got++
		if delivery.Classify(err) != delivery.DeadLetter || delivery.StatusOf(err) != http.StatusForbidden {
			t.Errorf("outcome %v (%v), want the record dead-lettered with its 403", delivery.Classify(err), err)
		}
	}
	if got != n || a.srv.Stats().Forbidden != 2*n {
		t.Fatalf("%d outcomes for %d records, %d refusals", got, n, a.srv.Stats().Forbidden)
	}
	t.Logf("%d records refused twice each, %d probes", n, probes.Load())
	// Four when every caller takes its answer at once; a caller scheduled
	// late (-race, a busy machine) may need one more. One per 403 would
	// be 128.
	if p := probes.Load(); p > n/4 {
		t.Fatalf("%d probes for a burst of %d records refused twice, want %d at most", p, n, n/4)
	}
}

// The monitor tells them apart too: a job hidden from a working credential
// (its subject forbidden after it was created) is no longer followed, with
// the 403 as the reason, while the others go on and the monitor stays
// ready; a revoked credential pauses every read (Ready says why) and gives
// up on no job.
func TestMonitorTellsAHiddenJobFromARevokedCredential(t *testing.T) {
	a := startAPI(t, standin.Config{StepInterval: 30 * time.Millisecond})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{})
	for _, c := range []string{"c-0", withdrawn, "c-2"} {
		if err := write(t, sink, record(c, `{"consentId":"`+c+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	hidden := res.all()[1].JobID
	a.srv.SetForbiddenSubjects(withdrawn)
	runMonitor(t, mon)
	final := finals(t, res, 3)
	for id, r := range final {
		switch {
		case id == hidden && (r.Terminal || !strings.Contains(r.Error, "HTTP 403") || !strings.Contains(r.Error, "credential works for other calls")):
			t.Errorf("hidden job: final %+v, want it no longer followed for its 403", r)
		case id != hidden && (r.Status != "Completed" || r.Error != ""):
			t.Errorf("job %s: final %+v", id, r)
		}
	}
	if ok, why := mon.Ready(); !ok {
		t.Fatalf("monitor not ready after a job's own 403: %s", why)
	}

	a.srv.SetRevoked(true)
	if err := write(t, sink, record("c-3", `{"consentId":"c-3"}`)); delivery.Classify(err) != delivery.Pause {
		t.Fatalf("creation with a revoked credential: %v, want a pause", err)
	}
	a.srv.SetRevoked(false)
	if err := write(t, sink, record("c-3", `{"consentId":"c-3"}`)); err != nil {
		t.Fatal(err)
	}
	a.srv.SetRevoked(true)
	streamstest.WaitFor(t, 10*time.Second, "the monitor to report the pause", func() (bool, string) {
		ok, why := mon.Ready()
		return !ok && strings.Contains(why, "paused") && strings.Contains(why, "HTTP 403"), why
	})
	a.srv.SetRevoked(false)
	final = finals(t, res, 4)
	for id, r := range final {
		if id != hidden && (r.Status != "Completed" || r.Error != "") {
			t.Errorf("job %s: final %+v, want completed once the credential works", id, r)
		}
	}
}
