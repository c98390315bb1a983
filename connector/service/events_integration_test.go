package service_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/internal/e2etest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// eventsConfig is a connector config with one contacthub-events sink on
// kb, which must have started.
func eventsConfig(t testing.TB, kb *testKafka, sb *sandbox.Sandbox, extra string) *config.Config {
	t.Helper()
	return testConfig(t, kb.addr, groupTimeouts, sandbox.ContacthubSection(sb.URL())+"sinks:\n"+
		testSink(kb, "events", "contacthub-events", "web.events")+extra)
}

// testSink is a sink of the pipeline tests named name, of type typ,
// reading topic in a group and dead-lettering to a topic of its own
// (named by kb), with short retries; keys of the sink may follow.
func testSink(kb *testKafka, name, typ, topic string) string {
	return fmt.Sprintf(`  - name: %s
    type: %s
    topics: [%s]
    group_id: %s
    dead_letter_topic: %s
    retry:
      initial: 5ms
      max: 200ms
`, name, typ, kb.name(topic), kb.name("connector-"+name), kb.name(name+".dlq"))
}

// startService builds the service of cfg and runs it until the test ends.
func startService(t testing.TB, cfg *config.Config) *service.Service {
	t.Helper()
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runService(t, svc)
	return svc
}

// runService runs svc until the test ends (or stop is called) and returns stop.
func runService(t testing.TB, svc *service.Service) (stop func() error) {
	return testkit.Run(t, svc.Run)
}

// makeEvents makes the package's events: valid ones and invalid ones
// spread among them (e2etest.Events).
func makeEvents(valid, invalid int) (msgs []kafka.Message, good [][]byte, bad map[string]bool) {
	return e2etest.Events(42, valid, invalid)
}

func TestEventsEndToEndUnderFaults(t *testing.T) { forEachBroker(t, testEventsEndToEndUnderFaults) }

func testEventsEndToEndUnderFaults(t *testing.T, kb *testKafka) {
	const valid, invalid = 20000, 200
	broker := kb.start(t, 4, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{ServerErrorShare: 0.05, ThrottleShare: 0.02, ResetShare: 0.01, RetryAfter: fault.Duration(time.Second)}
	})
	msgs, good, bad := makeEvents(valid, invalid)
	streamstest.Produce(t, broker, kb.name("web.events"), msgs...)

	cfg := eventsConfig(t, kb, sb, "")
	svc := startService(t, cfg)

	// Open a 401 window once a quarter is through: the pipeline must pause,
	// say so on /readyz, and resume by itself.
	pauseOnceAQuarterIsThrough(t, svc, "a quarter delivered", func() int64 { return sb.Contacthub.Stats().Accepted }, valid, sb.Contacthub.Faults())

	streamstest.WaitFor(t, 120*time.Second, "committed offsets to reach the end offsets", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, kb.name("connector-events"), kb.name("web.events"))
	})
	e2etest.RequireAccepted(t, sb, good, "valid event %d never reached Contacthub: %s")
	st := sb.Contacthub.Stats()
	if st.Faults.Unauthorized == 0 || st.Faults.ServerErrors == 0 || st.Faults.Throttled == 0 || st.Faults.Resets == 0 {
		t.Fatalf("faults were not all injected: %+v", st.Faults)
	}
	// At-least-once: duplicates come only from records in flight when an
	// answer was lost (a reset after the sandbox accepted), bounded by the window.
	if st.DuplicateBodies > int64(cfg.Sinks[0].MaxInFlight) {
		t.Fatalf("%d duplicates exceed the in-flight window %d", st.DuplicateBodies, cfg.Sinks[0].MaxInFlight)
	}
	for _, m := range readInvalidDeadLetters(t, broker, kb.name("events.dlq"), bad, "record") {
		h := streamstest.Headers(m)
		if h[streams.HeaderDLQReason] != "invalid" || !strings.Contains(h[streams.HeaderDLQError], "event: ") || h[streams.HeaderDLQTopic] != kb.name("web.events") || h[streams.HeaderDLQOffset] == "" {
			t.Fatalf("dead letter without its reason: %v", h)
		}
	}
	c := svc.Counts()["events"]
	if c.Consumed < valid+invalid || c.DeadLettered != invalid {
		t.Fatalf("counts %+v", c)
	}
	t.Logf("sandbox: %+v duplicates=%d; connector: %+v", st.Faults, st.DuplicateBodies, c)
}

// pauseOnceAQuarterIsThrough waits (what) until done, what the API did so
// far, passes a quarter of total, and then pauses the pipeline with a 401
// window (pauseWithUnauthorizedWindow).
func pauseOnceAQuarterIsThrough(t *testing.T, svc *service.Service, what string, done func() int64, total int, faults *fault.Injector) {
	t.Helper()
	streamstest.WaitFor(t, 60*time.Second, what, func() (bool, string) {
		n := done()
		return n > int64(total/4), fmt.Sprint(n)
	})
	pauseWithUnauthorizedWindow(t, svc, faults)
}

// pauseWithUnauthorizedWindow answers 401 for a while on the API of faults
// and waits until /readyz reports the pause.
func pauseWithUnauthorizedWindow(t *testing.T, svc *service.Service, faults *fault.Injector) {
	t.Helper()
	s := faults.Settings()
	s.UnauthorizedFor = fault.Duration(1500 * time.Millisecond)
	faults.Set(s)
	streamstest.WaitFor(t, 10*time.Second, "/readyz to report the pause", func() (bool, string) {
		resp, err := http.Get("http://" + svc.Addr() + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "paused"), fmt.Sprint(resp.StatusCode, " ", string(body))
	})
}

// readInvalidDeadLetters reads the dead letters of topic and fails the
// test unless there are as many as bad holds and each is one of them (what
// names a record in the message).
func readInvalidDeadLetters(t *testing.T, broker, topic string, bad map[string]bool, what string) []kafka.Message {
	t.Helper()
	dl := streamstest.ReadAll(t, broker, topic)
	if len(dl) != len(bad) {
		t.Fatalf("dead-lettered %d, want %d", len(dl), len(bad))
	}
	for _, m := range dl {
		if !bad[string(m.Value)] {
			t.Fatalf("a valid %s was dead-lettered: %s (%v)", what, m.Value, streamstest.Headers(m))
		}
	}
	return dl
}

// A throttled workspace: the connector reads maxRequestsPerMinute at start and
// paces below it, so the workspace never answers 429 while a backlog drains.
func TestEventsPaceBelowWorkspaceThrottling(t *testing.T) {
	forEachBroker(t, testEventsPaceBelowWorkspaceThrottling)
}

func testEventsPaceBelowWorkspaceThrottling(t *testing.T, kb *testKafka) {
	broker := kb.start(t, 2, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) { c.Contacthub.MaxRequestsPerMinute = 1200 }) // 20/s
	msgs, good, _ := makeEvents(60, 0)
	streamstest.Produce(t, broker, kb.name("web.events"), msgs...)
	startService(t, eventsConfig(t, kb, sb, ""))
	streamstest.WaitFor(t, 30*time.Second, "the backlog delivered", func() (bool, string) {
		n := sb.Contacthub.Stats().Accepted
		return n >= int64(len(good)), fmt.Sprint(n)
	})
	if st := sb.Contacthub.Stats(); st.Throttled != 0 {
		t.Fatalf("the workspace answered 429 %d times", st.Throttled)
	}
}
