package main_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/internal/e2etest"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams/streamstest"
)

// One connector process runs a UPS sink, an EnableNow sink and the update
// stream source; it is killed with SIGKILL while all three are busy and
// started again. Afterwards every UPS user holds the last value produced,
// every categorization request made exactly one job, and every Contacthub
// offset is on the source's topics: a crash at any instant loses nothing,
// in any direction.
func TestEveryDirectionSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	connectorBin, brokerAddr := buildAndStartBroker(t, 4, "profiles.segments,categorization.requests")

	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.UPS.UpdatesPerSecond = 3000
		c.EnableNow.Faults = fault.Settings{Latency: fault.Duration(15 * time.Millisecond)}
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(40 * time.Millisecond)}
		c.Contacthub.ChangesPerSecond = 0 // the test appends the changes itself
	})

	// UPS: two updates per user on average, keyed by user.
	const updates, users = 12000, 6000
	msgs, last := e2etest.UPSUpdates(t, 3, users, schemas.Segments, updates)
	streamstest.Produce(t, brokerAddr, "profiles.segments", msgs...)
	// EnableNow: valid requests only, so each must make exactly one job.
	const requests = 3000
	streamstest.Produce(t, brokerAddr, "categorization.requests", e2etest.ValidCategorizationRequests(5, requests)...)
	// Contacthub: a stream the source reads a small page at a time.
	sb.Contacthub.AppendUpdates(20000)

	os.Setenv("E2E_UPS_SECRET", sandbox.UPSClientSecret)
	cfgPath := writeConfig(t, brokerAddr, fmt.Sprintf(`%s%s  updates_per_second: 3000
  status_poll_interval: 50ms
%ssinks:
  - name: segments
    type: ups
    topics: [profiles.segments]
    ups: {collection: rr-segments}
  - name: categorization
    type: enablenow
    topics: [categorization.requests]
sources:
  - name: updates
    type: contacthub-updates
    page_size: 250
    poll_interval: 50ms
`, sandbox.ContacthubSection(sb.URL()),
		sandbox.UPSSection(sb.URL(), "${E2E_UPS_SECRET}"),
		sandbox.EnableNowSection(sb.URL())))

	// The first run is killed once every direction has done some, not all,
	// of its work.
	first := start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 90*time.Second, "every direction under way", func() (bool, string) {
		ups, en := sb.UPS.Stats().RecordsAccepted, sb.EnableNow.Stats().Created
		src := sum(streamstest.EndOffsets(t, brokerAddr, "contacthub.customers")) + sum(streamstest.EndOffsets(t, brokerAddr, "contacthub.events"))
		return ups > 1000 && en > 200 && src > 1000, fmt.Sprintf("ups %d, enablenow %d, source %d", ups, en, src)
	})
	first.kill(t)
	upsAt, enAt := sb.UPS.Stats().RecordsAccepted, sb.EnableNow.Stats().Created
	if enAt >= requests {
		t.Fatalf("the crash came too late to prove anything: %d jobs already created", enAt)
	}
	sb.Contacthub.AppendUpdates(5000) // the stream goes on while the connector is down
	lastOffset := sb.Contacthub.LastOffset()

	second := start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 120*time.Second, "both sinks caught up after the restart", func() (bool, string) {
		for _, gt := range [][2]string{{"connector-segments", "profiles.segments"}, {"connector-categorization", "categorization.requests"}} {
			if ok, state := streamstest.CaughtUp(t, brokerAddr, gt[0], gt[1]); !ok {
				return false, gt[1] + ": " + state
			}
		}
		return true, ""
	})
	var seen map[int64]int
	streamstest.WaitFor(t, 120*time.Second, "every Contacthub offset published", func() (bool, string) {
		seen = offsetsPublished(t, brokerAddr, "contacthub.customers", "contacthub.events")
		return int64(len(seen)) == lastOffset, fmt.Sprintf("%d of %d offsets", len(seen), lastOffset)
	})

	// UPS: every user holds the last value produced for it.
	e2etest.RequireStored(t, sb, schemas.Segments, last, "user %s holds %s, want the last value produced %s")
	// EnableNow: exactly one job per request, across the crash.
	for _, m := range streamstest.ReadAll(t, brokerAddr, "categorization.requests") {
		if n := sb.EnableNow.JobsFor(enablenow.IdempotencyKey(m.Topic, m.Partition, m.Offset, m.Key, m.Value)); n != 1 {
			t.Fatalf("request %d@%d made %d jobs, want 1", m.Partition, m.Offset, n)
		}
	}
	// Source: every offset is there; a crash repeats at most the page in
	// flight.
	dups := 0
	for off := int64(1); off <= lastOffset; off++ {
		if seen[off] == 0 {
			t.Fatalf("offset %d missing from the source's topics", off)
		}
		dups += seen[off] - 1
	}
	if dups > 250 {
		t.Fatalf("%d offsets published twice; a crash may repeat one page (250) at most", dups)
	}
	second.stop(t)
	t.Logf("killed at ups %d records, enablenow %d jobs; source offsets repeated %d", upsAt, enAt, dups)
}

func sum(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// offsetsPublished counts, per Contacthub offset, the envelopes on the
// source's topics (tombstones, which repeat the DELETE's offset, not
// counted).
func offsetsPublished(t *testing.T, broker string, topics ...string) map[int64]int {
	seen := map[int64]int{}
	for _, topic := range topics {
		for _, m := range streamstest.ReadAll(t, broker, topic) {
			if m.Value == nil {
				continue
			}
			for _, h := range m.Headers {
				if h.Key == contacthub.HeaderOffset {
					off, err := strconv.ParseInt(string(h.Value), 10, 64)
					if err != nil {
						t.Fatalf("%s/%d@%d: offset header %q", topic, m.Partition, m.Offset, h.Value)
					}
					seen[off]++
				}
			}
		}
	}
	return seen
}
