package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/examples/orders/orderstest"
	"github.com/contactlab/connector/internal/e2etest"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// The orders example in a real connector process: OrderPlaced events fan
// out through two mappings to Contacthub completedOrder events and UPS
// segment updates (a gift to two users). The process is killed with
// SIGKILL mid-run and started again: no output of any record is lost, since
// a record's offset is committed only once every output finished.
func TestMappedFanOutSurvivesSIGKILL(t *testing.T) {
	connectorBin, brokerAddr := buildAndStartBroker(t, 4, "shop.orders")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.UPS.UpdatesPerSecond = 5000
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(10 * time.Millisecond), ServerErrorShare: 0.02}
		c.Contacthub.ChangesPerSecond = 0
	})

	events, segments := orderstest.Mappings(t)
	const n = 6000
	g := orders.NewTraffic(21, 2000)
	g.NoCustomerShare = 0
	var msgs []kafka.Message
	var bodies [][]byte
	last := map[string]json.RawMessage{}
	for range n {
		k, v, kind := g.Next()
		msgs = append(msgs, kafka.Message{Key: k, Value: v})
		if kind != orders.Valid {
			continue
		}
		r := &streams.Record{Key: k, Value: v}
		ev := mapping.Map(context.Background(), events, nil, r)
		seg := mapping.Map(context.Background(), segments, nil, r)
		bodies = append(bodies, ev.Outputs[0].Value)
		for _, o := range seg.Outputs {
			var rec schemas.UPSRecord
			if err := json.Unmarshal(o.Value, &rec); err != nil {
				t.Fatal(err)
			}
			last[rec.UserID] = rec.Value
		}
	}
	streamstest.Produce(t, brokerAddr, "shop.orders", msgs...)

	dir, err := filepath.Abs("../../examples/orders")
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("E2E_UPS_SECRET", sandbox.UPSClientSecret)
	cfgPath := writeConfig(t, brokerAddr, fmt.Sprintf(`%s%s  updates_per_second: 5000
  status_poll_interval: 50ms
  max_records: 100
sinks:
  - name: order-events
    type: contacthub-events
    topics: [shop.orders]
    concurrency: 32
    mapping_file: %s
    retry: {initial: 10ms, max: 200ms}
  - name: order-segments
    type: ups
    topics: [shop.orders]
    ups: {collection: rr-segments}
    mapping_file: %s
`, sandbox.ContacthubSection(sb.URL()),
		sandbox.UPSSection(sb.URL(), "${E2E_UPS_SECRET}"),
		filepath.Join(dir, "completed_order.jq"), filepath.Join(dir, "ups_segments.jq")))

	first := start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 90*time.Second, "both sinks under way", func() (bool, string) {
		ch, ups := sb.Contacthub.Stats().Accepted, sb.UPS.Stats().RecordsAccepted
		return ch > n/5 && ups > n/5, fmt.Sprintf("contacthub %d, ups %d", ch, ups)
	})
	first.kill(t)
	if at := sb.Contacthub.Stats().Accepted; at >= int64(len(bodies)) {
		t.Fatalf("the crash came too late to prove anything: %d events already accepted", at)
	}

	start(t, connectorBin, "run", "-config", cfgPath)
	streamstest.WaitFor(t, 120*time.Second, "both sinks caught up after the restart", func() (bool, string) {
		for _, group := range []string{"connector-order-events", "connector-order-segments"} {
			if ok, state := streamstest.CaughtUp(t, brokerAddr, group, "shop.orders"); !ok {
				return false, group + ": " + state
			}
		}
		return true, ""
	})
	e2etest.RequireAccepted(t, sb, bodies, "completedOrder %d lost in the crash: %s")
	e2etest.RequireStored(t, sb, schemas.Segments, last, "user %s holds %s, want %s")
	st := sb.Contacthub.Stats()
	t.Logf("%d orders: %d completedOrder events (%d accepted in all, %d duplicates after the crash), %d users' segments",
		n, len(bodies), st.Accepted, st.DuplicateBodies, len(last))
}
