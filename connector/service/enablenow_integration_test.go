package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/internal/e2etest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

const requestsTopic = "categorization.requests"

// enablenowConfig is a connector config with one enablenow sink named
// "categorize" on kb, which must have started; sinkExtra is appended to the
// sink's enablenow section.
func enablenowConfig(t testing.TB, kb *testKafka, sb *sandbox.Sandbox, sinkExtra string) *config.Config {
	t.Helper()
	return testConfig(t, kb.addr, groupTimeouts, sandbox.EnableNowSection(sb.URL())+"  timeout: 5s\nsinks:\n"+
		testSink(kb, "categorize", "enablenow", requestsTopic)+
		fmt.Sprintf("    enablenow:\n      results_topic: %s\n%s", kb.name("categorize.results"), sinkExtra))
}

// makeRequests returns valid and invalid requests from the demo generator,
// the invalid ones spread through the stream, and the set of invalid values.
func makeRequests(valid, invalid int) (msgs []kafka.Message, bad map[string]bool) {
	return e2etest.CategorizationRequests(7, valid, invalid)
}

func jobMonitor(t testing.TB, svc *service.Service) *enablenow.JobMonitor {
	t.Helper()
	for _, u := range svc.Units() {
		if m, ok := u.(*enablenow.JobMonitor); ok {
			return m
		}
	}
	t.Fatal("the service runs no job monitor")
	return nil
}

// TestEnableNowEndToEndUnderFaults runs the enablenow pipeline through the
// service over real TCP, against the sandbox failing in every way it can:
// 5xx, 429 with Retry-After, resets before and after the job is created, and
// a 401 window. Every valid request must end as exactly one job, whose final
// status is on the results topic; every invalid one must be dead-lettered
// with the rule it breaks.
func TestEnableNowEndToEndUnderFaults(t *testing.T) {
	forEachBroker(t, testEnableNowEndToEndUnderFaults)
}

func testEnableNowEndToEndUnderFaults(t *testing.T, kb *testKafka) {
	const valid, invalid, maxFollowed = 1500, 60, 100
	broker := kb.start(t, 4, requestsTopic)
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.EnableNow.StepInterval = 30 * time.Millisecond
		c.EnableNow.FailShare = 0.1
		c.EnableNow.ResetAfterCreateShare = 0.05
		c.EnableNow.Faults = fault.Settings{ServerErrorShare: 0.05, ThrottleShare: 0.02, ResetShare: 0.02, RetryAfter: fault.Duration(time.Second)}
	})
	msgs, bad := makeRequests(valid, invalid)
	streamstest.Produce(t, broker, kb.name(requestsTopic), msgs...)

	cfg := enablenowConfig(t, kb, sb, fmt.Sprintf(`      monitor_jobs: true
      poll_interval: 20ms
      max_monitored_jobs: %d
`, maxFollowed))
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mon := jobMonitor(t, svc)
	runService(t, svc)

	// A 401 window once a quarter of the jobs exist: the pipeline (and the
	// monitor) must pause, say so on /readyz, and resume by themselves.
	pauseOnceAQuarterIsThrough(t, svc, "a quarter of the jobs created", func() int64 { return sb.EnableNow.Stats().Created }, valid, sb.EnableNow.Faults())

	// Committed to the end means every record's job exists and is followed
	// (or was dead-lettered); nothing followed means every final result is
	// on the results topic.
	streamstest.WaitFor(t, 120*time.Second, "every request committed and every job ended", func() (bool, string) {
		if ok, why := streamstest.CaughtUp(t, broker, kb.name("connector-categorize"), kb.name(requestsTopic)); !ok {
			return false, why
		}
		st := mon.Stats()
		return st.Following == 0, fmt.Sprintf("monitor %+v", st)
	})

	// Exactly one job per valid request, found by the key its record gives.
	requests := streamstest.ReadAll(t, broker, kb.name(requestsTopic))
	keyOf := map[string]string{} // idempotency key -> request key
	for _, m := range requests {
		if bad[string(m.Value)] {
			continue
		}
		k := enablenow.IdempotencyKey(m.Topic, m.Partition, m.Offset, m.Key, m.Value)
		keyOf[k] = string(m.Key)
		if n := sb.EnableNow.JobsFor(k); n != 1 {
			t.Fatalf("request %s/%d@%d made %d jobs, want 1: %s", m.Topic, m.Partition, m.Offset, n, m.Value)
		}
	}
	if len(keyOf) != valid {
		t.Fatalf("%d valid requests on the topic, want %d", len(keyOf), valid)
	}
	jobs := sb.EnableNow.Jobs()
	st := sb.EnableNow.Stats()
	if len(jobs) != valid || st.Created != valid {
		t.Fatalf("%d jobs (created %d) for %d valid requests", len(jobs), st.Created, valid)
	}

	// Every job's final status is on the results topic, under its request's key.
	final := map[string]enablenow.JobResult{}
	for _, m := range streamstest.ReadAll(t, broker, kb.name("categorize.results")) {
		var r enablenow.JobResult
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("result %s: %v", m.Value, err)
		}
		if want, ok := keyOf[r.IdempotencyKey]; !ok || string(m.Key) != want {
			t.Fatalf("result under key %q for idempotency key %s, want %q", m.Key, r.IdempotencyKey, want)
		}
		if r.Final {
			final[r.JobID] = r
		}
	}
	for _, j := range jobs {
		r, ok := final[j.ID]
		if !ok {
			t.Fatalf("job %s (%s) has no final result", j.ID, j.Status)
		}
		if r.Status != j.Status || !r.Terminal || r.Error != "" || r.IdempotencyKey != j.IdempotencyKey {
			t.Fatalf("job %s is %s at the API; final result %+v", j.ID, j.Status, r)
		}
	}

	// Every invalid request is dead-lettered, naming the rules it breaks.
	for _, m := range readInvalidDeadLetters(t, broker, kb.name("categorize.dlq"), bad, "request") {
		h := streamstest.Headers(m)
		if h[streams.HeaderDLQReason] != "invalid" || h[streams.HeaderDLQTopic] != kb.name(requestsTopic) || h[streams.HeaderDLQOffset] == "" {
			t.Fatalf("dead letter without its reason: %v", h)
		}
		_, err := schemas.DecodeCategorizationRequest(m.Value)
		var ve *schemas.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("dead-lettered value decodes as %v", err)
		}
		for _, v := range ve.Violations {
			if !strings.Contains(h[streams.HeaderDLQError], v.Path+": "+v.Rule) {
				t.Fatalf("dlq.error %q does not name the broken rule %q", h[streams.HeaderDLQError], v.Path+": "+v.Rule)
			}
		}
	}

	if st.Faults.Unauthorized == 0 || st.Faults.ServerErrors == 0 || st.Faults.Throttled == 0 || st.Faults.Resets == 0 || st.ResetsAfterCreate == 0 {
		t.Fatalf("faults were not all injected: %+v", st)
	}
	// Every reset after a creation was retried into a replay, never a second job.
	if st.Replayed < st.ResetsAfterCreate {
		t.Fatalf("%d replays for %d answers lost after creation", st.Replayed, st.ResetsAfterCreate)
	}
	if peak := mon.Stats().Peak; peak > maxFollowed {
		t.Fatalf("followed %d jobs at once, cap %d", peak, maxFollowed)
	}
	c := svc.Counts()["categorize"]
	if c.Consumed < valid+invalid || c.DeadLettered != invalid {
		t.Fatalf("counts %+v", c)
	}
	t.Logf("sandbox: created=%d replayed=%d resets_after_create=%d faults=%+v by_status=%v; monitor peak %d; connector %+v",
		st.Created, st.Replayed, st.ResetsAfterCreate, st.Faults, st.ByStatus, mon.Stats().Peak, c)
}

// Without monitoring, each request's one result is its creation, final.
func TestEnableNowWithoutMonitoring(t *testing.T) { forEachBroker(t, testEnableNowWithoutMonitoring) }

func testEnableNowWithoutMonitoring(t *testing.T, kb *testKafka) {
	const valid = 300
	broker := kb.start(t, 4, requestsTopic)
	sb := sandboxtest.Start(t, nil)
	msgs, _ := makeRequests(valid, 0)
	streamstest.Produce(t, broker, kb.name(requestsTopic), msgs...)
	svc, err := service.New(enablenowConfig(t, kb, sb, "      monitor_jobs: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range svc.Units() {
		if _, ok := u.(*enablenow.JobMonitor); ok {
			t.Fatal("a monitor runs although monitoring is off")
		}
	}
	runService(t, svc)
	streamstest.WaitFor(t, 60*time.Second, "every request committed", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, kb.name("connector-categorize"), kb.name(requestsTopic))
	})
	results := streamstest.ReadAll(t, broker, kb.name("categorize.results"))
	seen := map[string]bool{}
	for _, m := range results {
		var r enablenow.JobResult
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatal(err)
		}
		if !r.Final || r.JobID == "" || r.Status == "" {
			t.Fatalf("result %s", m.Value)
		}
		seen[r.JobID] = true
	}
	if len(seen) != valid || len(sb.EnableNow.Jobs()) != valid {
		t.Fatalf("%d jobs with a result, %d jobs, want %d", len(seen), len(sb.EnableNow.Jobs()), valid)
	}
}

// A crash (no graceful stop: in-flight work dropped, finished records not
// yet committed) makes the next run read records whose jobs already exist.
// Their keys are the same, so the API replays: no second job.
func TestEnableNowRedeliveryAfterCrashCreatesNoSecondJob(t *testing.T) {
	forEachBroker(t, testEnableNowRedeliveryAfterCrashCreatesNoSecondJob)
}

func testEnableNowRedeliveryAfterCrashCreatesNoSecondJob(t *testing.T, kb *testKafka) {
	const n = 1200
	// The service creates the topics it writes; without it, the test does.
	broker := kb.start(t, 4, requestsTopic, "categorize.results", "categorize.dlq")
	// No reset after create here: every replay is then a record read again after the crash.
	sb := sandboxtest.Start(t, nil)
	msgs, _ := makeRequests(n, 0)
	streamstest.Produce(t, broker, kb.name(requestsTopic), msgs...)

	cfg := enablenowConfig(t, kb, sb, "")
	prod, err := streams.NewProducer(streams.ProducerConfig{Brokers: cfg.Kafka.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	quiet := slog.New(slog.DiscardHandler)
	pipeline := func() *streams.Pipeline {
		client := enablenow.NewClient(config.SectionOf[service.EnableNowConfig](cfg, "enablenow").Options(), httpapi.NewMetrics(nil))
		sink := enablenow.NewCategorizationSink(client, enablenow.NewKafkaResults(prod, kb.name("categorize.results"), nil), nil, quiet, nil)
		p, err := streams.NewPipeline(streams.PipelineConfig{
			Name: "categorize", Brokers: cfg.Kafka.Brokers, GroupID: kb.name("crash-test"), Topics: []string{kb.name(requestsTopic)},
			DeadLetterTopic: kb.name("categorize.dlq"), Concurrency: 16,
			// Commits far apart leave many finished records uncommitted at the crash.
			CommitInterval: time.Second,
			Retry:          streams.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 100 * time.Millisecond},
			SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, Logger: quiet,
		}, sink)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	ctx, crash := context.WithCancel(context.Background())
	crashed := make(chan error, 1)
	go func() { crashed <- pipeline().RunUntilAbort(ctx) }()
	streamstest.WaitFor(t, 60*time.Second, "half the jobs created", func() (bool, string) {
		c := sb.EnableNow.Stats().Created
		return c > n/2, fmt.Sprint(c)
	})
	crash()
	if err := <-crashed; err != nil {
		t.Fatal(err)
	}

	stop := testkit.Run(t, pipeline().Run)
	streamstest.WaitFor(t, 60*time.Second, "every request committed", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, kb.name("crash-test"), kb.name(requestsTopic))
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	for _, m := range streamstest.ReadAll(t, broker, kb.name(requestsTopic)) {
		if k := enablenow.IdempotencyKey(m.Topic, m.Partition, m.Offset, m.Key, m.Value); sb.EnableNow.JobsFor(k) != 1 {
			t.Fatalf("request %d@%d made %d jobs, want 1", m.Partition, m.Offset, sb.EnableNow.JobsFor(k))
		}
	}
	st := sb.EnableNow.Stats()
	if st.Created != n || st.Replayed == 0 {
		t.Fatalf("created %d (want %d), replayed %d (want some: records redelivered after the crash)", st.Created, n, st.Replayed)
	}
	t.Logf("created %d, replayed %d after the crash", st.Created, st.Replayed)
}

// Two enablenow sinks in one process: their collectors must not collide,
// and each is told apart by its pipeline label.
func TestEnableNowTwoSinksShareARegistry(t *testing.T) {
	doc := `
kafka:
  brokers: ["127.0.0.1:1"]
enablenow:
  base_url: http://127.0.0.1:1
  token: t
sinks:
  - name: consents
    type: enablenow
    topics: [consents]
    enablenow:
      monitor_jobs: true
  - name: accounts
    type: enablenow
    topics: [accounts]
`
	cfg := parseConfig(t, doc)
	svc, err := service.New(cfg, service.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	families, err := svc.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	pipelines := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "connector_enablenow_monitored_jobs" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" {
					pipelines[l.GetValue()] = true
				}
			}
		}
	}
	if !pipelines["consents"] || !pipelines["accounts"] {
		t.Fatalf("monitored_jobs by pipeline: %v", pipelines)
	}
	names := map[string]bool{}
	for _, u := range svc.Units() {
		names[u.Name()] = true
	}
	if !names["consents/job-monitor"] || names["accounts/job-monitor"] {
		t.Fatalf("units %v: want a monitor for consents only", names)
	}
}
