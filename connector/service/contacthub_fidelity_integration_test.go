package service_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/sandbox"
	chsandbox "github.com/contactlab/connector/connector/sandbox/contacthub"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// eventsAndSourceConfig is a connector config with a contacthub-events sink
// and a contacthub-updates source sharing one workspace.
func eventsAndSourceConfig(t testing.TB, broker string, sb *sandbox.Sandbox) *config.Config {
	t.Helper()
	return testConfig(t, broker, shortGroupTimeouts, sandbox.ContacthubSection(sb.URL())+`sinks:
  - name: events
    type: contacthub-events
    topics: [web.events]
    retry: {initial: 5ms, max: 200ms}
sources:
  - name: updates
    type: contacthub-updates
    page_size: 500
    poll_interval: 20ms
    retry: {initial: 5ms, max: 100ms}
`)
}

// readyz returns /readyz's status and body.
func readyz(svc *service.Service) (int, string, error) {
	resp, err := http.Get("http://" + svc.Addr() + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// A 4xx on the update stream never ends the process: the source pauses,
// /readyz names it with the API's answer, the events pipeline goes on
// delivering, and once the API takes the request again the source
// resumes by itself.
func TestUpdateStreamRejectionPausesOnlyTheSource(t *testing.T) {
	broker := streamstest.Broker(t, 2, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) { c.Contacthub.MaxPageSize = 100 }) // the source asks for 500
	msgs, good, _ := makeEvents(50, 0)
	streamstest.Produce(t, broker, "web.events", msgs...)
	svc, err := service.New(eventsAndSourceConfig(t, broker, sb))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	streamstest.WaitFor(t, 20*time.Second, "/readyz to name the paused source with the 400", func() (bool, string) {
		status, body, err := readyz(svc)
		return err == nil && status == http.StatusServiceUnavailable && strings.Contains(body, `"updates":"paused: `) && strings.Contains(body, "HTTP 400"),
			fmt.Sprint(status, " ", body, " ", err)
	})
	streamstest.WaitFor(t, 30*time.Second, "the events delivered meanwhile", func() (bool, string) {
		n := sb.Contacthub.Stats().Accepted
		return n >= int64(len(good)), fmt.Sprint(n)
	})
	select {
	case err := <-done:
		t.Fatalf("the service ended with %v", err)
	default:
	}

	sb.Contacthub.SetMaxPageSize(0)
	var src *contacthub.UpdateStreamSource
	for _, u := range svc.Units() {
		if s, ok := u.(*contacthub.UpdateStreamSource); ok {
			src = s
		}
	}
	last := sb.Contacthub.LastOffset()
	streamstest.WaitFor(t, 30*time.Second, "the source to resume and catch up", func() (bool, string) {
		ok, why := src.Ready()
		return ok && why == "active" && src.Progress().Current >= last, fmt.Sprint(why, " ", src.Progress().String())
	})
}

// The events pipeline against the witness in its reference readings: the
// token may not read the throttling, bringBackProperties on an aggregate
// node are refused with 403, and the API reads 64kB as 64,000 bytes. Every
// valid event is delivered, nulls the reference forbids are not sent, each
// refused record is dead-lettered with the API's status and logref, and
// the pipeline never pauses.
func TestEventsPipelineAgainstTheReferenceReadings(t *testing.T) {
	const aggregate = "be4f0058-c51e-4909-acdc-373dfba102bd"
	kb := newTestKafka(t, kindKfake)
	broker := kb.start(t, 2, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Forbidden = []string{chsandbox.OpThrottling}
		c.Contacthub.AggregateNodes = []string{aggregate}
		c.Contacthub.MaxEventBytes = 64000
	})
	msgs, good, _ := makeEvents(100, 0)
	withNulls := `{"customerId":null,"bringBackProperties":{"type":"SESSION_ID","value":"s-%d","nodeId":"` + sandbox.NodeID + `"},"type":"loggedIn","context":"WEB","properties":{},"contextInfo":null}`
	onAggregate := `{"bringBackProperties":{"type":"SESSION_ID","value":"a-%d","nodeId":"` + aggregate + `"},"type":"loggedIn","context":"WEB","properties":{}}`
	large := `{"customerId":"87d8e330-2878-4742-a86f-dbbb3bf522ac","type":"searched","context":"WEB","properties":{"q":"%d-` + strings.Repeat("q", 64500) + `"}}`
	for i := range 3 {
		msgs = append(msgs, kafka.Message{Value: fmt.Appendf(nil, withNulls, i)}, kafka.Message{Value: fmt.Appendf(nil, onAggregate, i)}, kafka.Message{Value: fmt.Appendf(nil, large, i)})
	}
	streamstest.Produce(t, broker, "web.events", msgs...)
	svc := startService(t, eventsConfig(t, kb, sb, ""))
	streamstest.WaitFor(t, 60*time.Second, "committed offsets to reach the end offsets", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, "connector-events", "web.events")
	})
	for i, v := range good {
		if sb.Contacthub.AcceptedCount(v) != 1 {
			t.Fatalf("valid event %d not delivered once: %s", i, v)
		}
	}
	if st := sb.Contacthub.Stats(); st.Accepted != int64(len(good))+3 || st.PerCustomer["s-0"] != 1 {
		t.Fatalf("accepted %d (want the valid ones and the 3 with nulls): %+v", st.Accepted, st)
	}
	reasons := map[string]int{}
	for _, m := range streamstest.ReadAll(t, broker, "events.dlq") {
		h := streamstest.Headers(m)
		if !strings.Contains(h[streams.HeaderDLQError], "(logref ") {
			t.Fatalf("dead letter without the API's logref: %v", h)
		}
		reasons[h[streams.HeaderDLQReason]+" "+h[streams.HeaderDLQStatus]]++
	}
	if want := map[string]int{"rejected 403": 3, "too_large 413": 3}; !maps.Equal(reasons, want) {
		t.Fatalf("dead letters %v, want %v", reasons, want)
	}
	if c := svc.Counts()["events"]; c.Retries != 0 {
		t.Fatalf("%d retries: a refused throttling read or a record's 403 held records back", c.Retries)
	}
	resp, err := http.Get("http://" + svc.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`connector_contacthub_throttling_known 0`, `connector_contacthub_throttling_read_failures_total{reason="unauthorized"} `} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}
