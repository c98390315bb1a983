package service_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams/streamstest"
)

// eventsAndSourceConfig is a connector config with a contacthub-events sink
// and a contacthub-updates source sharing one workspace.
func eventsAndSourceConfig(t testing.TB, broker string, sb *sandbox.Sandbox) *config.Config {
	t.Helper()
	doc := fmt.Sprintf(`
kafka:
  brokers: [%q]
  session_timeout: 1s
  heartbeat_interval: 100ms
http:
  listen: "127.0.0.1:0"
log:
  level: warn
contacthub:
  base_url: %s
  workspace_id: %s
  token: %s
sinks:
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
`, broker, sb.ContacthubURL(), sandbox.WorkspaceID, sandbox.ContacthubToken)
	c, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return c
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
	sb := startSandbox(t, func(c *sandbox.Config) { c.Contacthub.MaxPageSize = 100 }) // the source asks for 500
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
