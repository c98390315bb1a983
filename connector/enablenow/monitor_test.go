package enablenow_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/enablenow"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// monitored is a sink with a monitor over the stand-in at a.
func monitored(t *testing.T, a *api, cfg enablenow.MonitorConfig) (*enablenow.CategorizationSink, *enablenow.JobMonitor, *memResults) {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if cfg.MaxJobs == 0 {
		cfg.MaxJobs = 100
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	cfg.Name = "categorization/job-monitor"
	cfg.Logger = slog.New(slog.DiscardHandler)
	client := newClient(a.url, nil)
	res := &memResults{}
	mon, err := enablenow.NewJobMonitor(cfg, client, res)
	if err != nil {
		t.Fatal(err)
	}
	return enablenow.NewCategorizationSink(client, res, mon, nil, nil), mon, res
}

// finals waits until n jobs have a final result and returns them by job id.
func finals(t *testing.T, res *memResults, n int) map[string]enablenow.JobResult {
	t.Helper()
	out := map[string]enablenow.JobResult{}
	streamstest.WaitFor(t, 10*time.Second, fmt.Sprintf("%d final results", n), func() (bool, string) {
		clear(out)
		for id, rs := range res.byJob() {
			if last := rs[len(rs)-1]; last.Final {
				out[id] = last
			}
		}
		return len(out) >= n, fmt.Sprintf("%d final", len(out))
	})
	return out
}

// Each job is followed until it ends; every change seen is published in
// order, the last with Final, and the monitor lets go of it.
func TestMonitorPublishesEachChangeUntilTheEnd(t *testing.T) {
	a := startAPI(t, standin.Config{StepInterval: 30 * time.Millisecond, FailShare: 0.3})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{})
	runMonitor(t, mon)
	const n = 20
	for i := range n {
		if err := write(t, sink, record(fmt.Sprint("u-", i), fmt.Sprintf(`{"userId":"u-%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	final := finals(t, res, n)
	jobs := map[string]standin.Job{}
	for _, j := range a.srv.Jobs() {
		jobs[j.ID] = j
	}
	order := map[string]int{"Queued": 0, "Running": 1, "Completed": 2, "Failed": 2}
	for id, rs := range res.byJob() {
		if got, want := final[id].Status, jobs[id].Status; got != want || !final[id].Terminal {
			t.Errorf("job %s: final status %q (terminal %v), the API says %q", id, got, final[id].Terminal, want)
		}
		for i := 1; i < len(rs); i++ {
			if order[rs[i].Status] <= order[rs[i-1].Status] {
				t.Errorf("job %s: results out of order or repeated: %+v", id, rs)
			}
			if rs[i].IdempotencyKey != rs[0].IdempotencyKey || string(rs[i].RequestKey) != string(rs[0].RequestKey) {
				t.Errorf("job %s: a status change lost the request it belongs to", id)
			}
		}
		for _, r := range rs[:len(rs)-1] {
			if r.Final {
				t.Errorf("job %s: a result before the last is final: %+v", id, rs)
			}
		}
	}
	streamstest.WaitFor(t, 5*time.Second, "the monitor to let go", func() (bool, string) {
		st := mon.Stats()
		return st.Following == 0, fmt.Sprintf("%+v", st)
	})
	if ok, why := mon.Ready(); !ok {
		t.Fatalf("monitor not ready: %s", why)
	}
}

// The cap holds the topic back: with every place taken, the sink waits
// before it creates a job, so no job is created that could not be followed.
func TestMonitorCapHoldsBackTheSink(t *testing.T) {
	a := startAPI(t, standin.Config{StepInterval: 20 * time.Millisecond})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{MaxJobs: 2})
	for i := range 2 {
		if err := write(t, sink, record("k", fmt.Sprintf(`{"userId":"u-%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	// The monitor is not running, so no place frees up.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	blocked := record("k", `{"userId":"u-2"}`)
	err := writeBatch(t, ctx, sink, blocked)[0]
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the write held back until its deadline, got %v", err)
	}
	if st := a.srv.Stats(); st.Created != 2 {
		t.Fatalf("%d jobs created, want 2: the third was created although it could not be followed", st.Created)
	}
	runMonitor(t, mon)
	if err := write(t, sink, blocked); err != nil {
		t.Fatal(err)
	}
	finals(t, res, 3)
	if st := mon.Stats(); st.Peak != 2 {
		t.Fatalf("peak %d followed jobs, cap 2", st.Peak)
	}
}

// A redelivered request whose creation is replayed while its job is still
// followed must not be followed twice.
func TestMonitorFollowsAReplayedJobOnce(t *testing.T) {
	a := startAPI(t, standin.Config{StepInterval: time.Hour})
	sink, mon, _ := monitored(t, a, enablenow.MonitorConfig{MaxJobs: 2})
	r := record("k", `{"userId":"u"}`)
	for range 3 {
		if err := write(t, sink, r); err != nil {
			t.Fatal(err)
		}
	}
	if st := mon.Stats(); st.Following != 1 {
		t.Fatalf("following %d, want 1", st.Following)
	}
}

// A job the API no longer knows (404) is given up at once, with the reason.
func TestMonitorGivesUpOnAJobTheAPIRefuses(t *testing.T) {
	// MaxJobs 1: the stand-in keeps one job, so the second evicts the first.
	a := startAPI(t, standin.Config{StepInterval: time.Hour, MaxJobs: 1})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{})
	if err := write(t, sink, record("a", `{"userId":"a"}`)); err != nil {
		t.Fatal(err)
	}
	first := res.all()[0].JobID
	if err := write(t, sink, record("b", `{"userId":"b"}`)); err != nil {
		t.Fatal(err)
	}
	runMonitor(t, mon)
	got := finals(t, res, 1)[first]
	if !got.Final || got.Terminal || got.Status != "Queued" || !strings.Contains(got.Error, "404") {
		t.Fatalf("final result %+v: want the last status, not terminal, with the 404", got)
	}
	if st := mon.Stats(); st.Following != 1 {
		t.Fatalf("following %d, want only the second job", st.Following)
	}
}

// A job that does not end within the timeout frees its place.
func TestMonitorGivesUpAfterTheTimeout(t *testing.T) {
	a := startAPI(t, standin.Config{StepInterval: time.Hour})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{Timeout: 50 * time.Millisecond})
	runMonitor(t, mon)
	if err := write(t, sink, record("a", `{"userId":"a"}`)); err != nil {
		t.Fatal(err)
	}
	for _, got := range finals(t, res, 1) {
		if got.Terminal || !strings.Contains(got.Error, "not ended after 50ms") {
			t.Fatalf("final result %+v", got)
		}
	}
}

// Reads fail as every call does: a 401 pauses the whole monitor (Ready says
// so) and probes with a few reads per back-off step rather than one per job;
// 5xx, 429 and resets are retried per job. Every job still reaches its
// final status.
func TestMonitorRidesOutFaults(t *testing.T) {
	const n, concurrency = 50, 4
	a := startAPI(t, standin.Config{StepInterval: 20 * time.Millisecond})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{Concurrency: concurrency})
	for i := range n {
		if err := write(t, sink, record("k", fmt.Sprintf(`{"userId":"u-%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	a.srv.Faults().Set(fault.Settings{UnauthorizedFor: fault.Duration(time.Hour)})
	runMonitor(t, mon)
	streamstest.WaitFor(t, 5*time.Second, "the monitor to report the pause", func() (bool, string) {
		ok, why := mon.Ready()
		return !ok && strings.Contains(why, "paused"), why
	})
	a.srv.Faults().Set(fault.Settings{ServerErrorShare: 0.2, ResetShare: 0.1, ThrottleShare: 0.05, RetryAfter: fault.Duration(time.Second)})
	final := finals(t, res, n)
	for id, r := range final {
		if r.Status != "Completed" || !r.Terminal || r.Error != "" {
			t.Errorf("job %s: %+v", id, r)
		}
	}
	if ok, why := mon.Ready(); !ok {
		t.Fatalf("still not ready after the credential works: %s", why)
	}
	// Reading every job once would be n refusals; a pause probes with at
	// most `concurrency` reads per back-off step.
	if got := a.srv.Stats().Faults.Unauthorized; got >= n {
		t.Fatalf("%d reads refused during the pause: every job was read, not a few probes", got)
	}
}

// A status that cannot be published is read and published again later; it
// is never skipped.
func TestMonitorRetriesAFailedPublish(t *testing.T) {
	a := startAPI(t, standin.Config{StepInterval: 10 * time.Millisecond})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{})
	if err := write(t, sink, record("k", `{"userId":"u"}`)); err != nil {
		t.Fatal(err)
	}
	res.failNext.Store(3)
	runMonitor(t, mon)
	for _, r := range finals(t, res, 1) {
		if r.Status != "Completed" {
			t.Fatalf("final %+v", r)
		}
	}
}

// In a pipeline the sink runs its monitor itself (Start) and shows it as its
// part: ready while the pipeline runs, "not running" once it stopped.
func TestSinkRunsItsMonitorInThePipeline(t *testing.T) {
	const n = 40
	broker := streamstest.Broker(t, 2, "categorization.requests")
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("u-", i)), Value: fmt.Appendf(nil, `{"userId":"u-%d"}`, i)})
	}
	streamstest.Produce(t, broker, "categorization.requests", msgs...)
	a := startAPI(t, standin.Config{StepInterval: 10 * time.Millisecond})
	sink, mon, res := monitored(t, a, enablenow.MonitorConfig{MaxJobs: 8})
	// The service runs every unit that has a Run method: a part with one
	// would be run twice.
	if _, ok := any(mon).(interface{ Run(context.Context) error }); ok {
		t.Fatal("the monitor has a Run method: the service would run it beside the sink")
	}
	t.Cleanup(func() { // after the pipeline stopped (cleanups run last first)
		if ok, why := mon.Ready(); ok || why != "not running" {
			t.Errorf("monitor ready=%v (%s) after the pipeline stopped", ok, why)
		}
	})
	p := pipeline(t, broker, "monitor-test", sink, func(c *streams.PipelineConfig) {
		c.Concurrency = 4
		c.Retry = streams.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 100 * time.Millisecond}
	})
	parts := p.Parts()
	if len(parts) != 1 || parts[0] != streams.Part(mon) || parts[0].Name() != "categorization/job-monitor" {
		t.Fatalf("parts %v: want the monitor", parts)
	}
	streamstest.WaitFor(t, 10*time.Second, "the monitor running", func() (bool, string) { return mon.Ready() })
	// With 8 places for 40 jobs, only a running monitor lets every record through.
	finals(t, res, n)
	streamstest.WaitFor(t, 10*time.Second, "every request committed", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, "monitor-test", "categorization.requests")
	})
	if st := mon.Stats(); st.Peak > 8 {
		t.Fatalf("peak %d followed jobs, cap 8", st.Peak)
	}
}
