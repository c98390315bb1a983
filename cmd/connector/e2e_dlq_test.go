package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/streams/streamstest"
)

// An operator's day: Contacthub is down long enough for the connector to
// dead-letter every event as retries_exhausted (beside the invalid ones);
// once it is back, `connector dlq inspect` shows the two causes, `connector
// dlq replay` refuses to mix them, lists what it would replay, replays the
// outage's dead letters, which the running connector delivers, each once,
// and a second replay finds nothing left.
func TestDeadLetterInspectAndReplay(t *testing.T) {
	t.Parallel()
	connectorBin, brokerAddr := buildAndStartBroker(t, 3, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{ServerErrorShare: 1}
	})
	os.Setenv("E2E_CONTACTHUB_TOKEN", sandbox.ContacthubToken)
	cfgPath := writeConfig(t, brokerAddr, fmt.Sprintf(`contacthub:
  base_url: %s
  workspace_id: %s
  token: ${E2E_CONTACTHUB_TOKEN}
  max_requests_per_minute: 600000
sinks:
  - name: events
    type: contacthub-events
    topics: [web.events]
    concurrency: 16
    retry: {initial: 10ms, max: 50ms, max_elapsed: 300ms}
`, sb.ContacthubURL(), sandbox.WorkspaceID))

	const valid, invalid = 300, 7
	g := demo.NewEventTraffic(11, 100, sandbox.NodeID)
	var msgs []kafka.Message
	var good [][]byte
	for len(msgs) < valid+invalid {
		// One invalid event after every 40 valid ones.
		wantValid := len(msgs)%41 != 40 || len(msgs)-len(good) == invalid
		g.InvalidShare = 0
		if !wantValid {
			g.InvalidShare = 1
		}
		k, v, ok := g.Next()
		if ok != wantValid {
			continue
		}
		if ok {
			good = append(good, v)
		}
		msgs = append(msgs, kafka.Message{Key: k, Value: v})
	}
	streamstest.Produce(t, brokerAddr, "web.events", msgs...)

	conn := start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 60*time.Second, "every event dead-lettered during the outage", func() (bool, string) {
		caught, why := streamstest.CaughtUp(t, brokerAddr, "connector-events", "web.events")
		return caught, why
	})
	sb.Contacthub.Faults().Set(fault.Settings{})

	dlq := func(args ...string) (string, error) {
		out, err := exec.Command(connectorBin, append([]string{"dlq"}, append(args, "-config", cfgPath, "-sink", "events")...)...).CombinedOutput()
		return string(out), err
	}
	out, err := dlq("inspect")
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("events.dlq: %d dead letters", valid+invalid),
		fmt.Sprintf("  retries_exhausted        %7d\n", valid),
		fmt.Sprintf("  invalid                  %7d\n", invalid),
		fmt.Sprintf("  %7d  gave up after N attempts over <duration>: contacthub: POST /workspaces/{workspaceId}/events: HTTP 503", valid),
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("inspect output lacks %q:\n%s", want, out)
		}
	}

	t.Logf("inspect:\n%s", out)
	if out, err := dlq("replay"); err == nil || !strings.Contains(out, "several reasons") {
		t.Fatalf("replay without -reason or -all: %v\n%s", err, out)
	}
	out, err = dlq("replay", "-reason", "retries_exhausted", "-dry-run")
	if err != nil || strings.Count(out, "would replay events.dlq/") != valid {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if n := sb.Contacthub.Stats().Accepted; n != 0 {
		t.Fatalf("Contacthub accepted %d events after a dry run", n)
	}

	out, err = dlq("replay", "-reason", "retries_exhausted")
	if err != nil || !strings.Contains(out, fmt.Sprintf("replayed %d of %d", valid, valid)) {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	t.Logf("replay:\n%s", out)
	streamstest.WaitFor(t, 60*time.Second, "every replayed event accepted", func() (bool, string) {
		n := sb.Contacthub.Stats().Accepted
		return n >= valid, fmt.Sprint(n)
	})
	out, err = dlq("replay", "-reason", "retries_exhausted")
	if err != nil || !strings.Contains(out, "replayed 0 of 0") || !strings.Contains(out, fmt.Sprintf("already replayed by earlier runs: %d", valid)) {
		t.Fatalf("second replay: %v\n%s", err, out)
	}
	streamstest.WaitFor(t, 30*time.Second, "the connector caught up", func() (bool, string) {
		return streamstest.CaughtUp(t, brokerAddr, "connector-events", "web.events")
	})
	for i, v := range good {
		if n := sb.Contacthub.AcceptedCount(v); n != 1 {
			t.Fatalf("event %d accepted %d times, want once: %s", i, n, v)
		}
	}
	conn.stop(t)
}
