package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// ordersConfig is the orders example's two sinks (examples/orders: a
// completedOrder event and UPS segment updates from each OrderPlaced of one
// topic), pointed at broker and sb; extra is added to every sink.
func ordersConfig(t testing.TB, broker string, sb *sandbox.Sandbox, extra string) *config.Config {
	t.Helper()
	dir, err := filepath.Abs("../../examples/orders")
	if err != nil {
		t.Fatal(err)
	}
	// Group timeouts long enough that a starved test process keeps its
	// group: records fetched again after a rebalance may reach UPS after
	// newer ones.
	const kafkaKeys = "  session_timeout: 10s\n  heartbeat_interval: 500ms\n"
	return testConfig(t, broker, kafkaKeys, sandbox.ContacthubSection(sb.URL())+sandbox.UPSSection(sb.URL(), sandbox.UPSClientSecret)+fmt.Sprintf(`  updates_per_second: 20000
  status_poll_interval: 25ms
  max_records: 50
sinks:
  - name: order-events
    type: contacthub-events
    topics: [shop.orders]
    mapping_file: %s
%s  - name: order-segments
    type: ups
    topics: [shop.orders]
    mapping_file: %s
    ups:
      collection: rr-segments
      max_job_attempts: 5
%s`, filepath.Join(dir, "completed_order.jq"), extra, filepath.Join(dir, "ups_segments.jq"), extra))
}

// orderTraffic is n generated orders, with what each sink must make of
// them: every completedOrder body, the last segments of every user, the
// orders that are test traffic and those to be dead-lettered.
type orderTraffic struct {
	msgs     []kafka.Message
	events   [][]byte
	segments map[string]json.RawMessage
	outputs  int // segment records, gifts fanning out to two
	filtered int
	dead     map[string]bool
}

func makeOrders(t testing.TB, cfg *config.Config, n int) orderTraffic {
	t.Helper()
	evProg, evCheck, err := service.Mapper(cfg, "order-events")
	if err != nil {
		t.Fatal(err)
	}
	segProg, segCheck, err := service.Mapper(cfg, "order-segments")
	if err != nil {
		t.Fatal(err)
	}
	g := orders.NewTraffic(13, n/4)
	tr := orderTraffic{segments: map[string]json.RawMessage{}, dead: map[string]bool{}}
	for range n {
		k, v, kind := g.Next()
		tr.msgs = append(tr.msgs, kafka.Message{Key: k, Value: v})
		r := &streams.Record{Key: k, Value: v}
		ev := mapping.Map(context.Background(), evProg, evCheck, r)
		seg := mapping.Map(context.Background(), segProg, segCheck, r)
		switch kind {
		case orders.TestTraffic:
			if !ev.Filtered || !seg.Filtered {
				t.Fatalf("test order not filtered: %+v %+v", ev, seg)
			}
			tr.filtered++
		case orders.NoCustomer:
			if ev.Reason != "mapping" || seg.Reason != "invalid" {
				t.Fatalf("order without customer: %+v %+v", ev, seg)
			}
			tr.dead[string(v)] = true
		default:
			if len(ev.Outputs) != 1 || ev.DeadLettered() || seg.DeadLettered() {
				t.Fatalf("valid order %s: %+v %+v", v, ev, seg)
			}
			tr.events = append(tr.events, ev.Outputs[0].Value)
			for _, o := range seg.Outputs {
				var rec schemas.UPSRecord
				if err := json.Unmarshal(o.Value, &rec); err != nil {
					t.Fatal(err)
				}
				tr.segments[rec.UserID] = rec.Value
				tr.outputs++
			}
		}
	}
	return tr
}

// OrderPlaced events through the orders example's two mappings, under
// faults of both APIs: every order's completedOrder event reaches
// Contacthub, every user holds the segments of their last order (a gift's
// recipient those of the gift), test traffic is committed and counted as
// filtered, an order without a customer is dead-lettered by both sinks with
// the mapping's reason, and both groups commit the end of the topic only
// once every output of every record has finished.
func TestOrdersFanOutUnderFaults(t *testing.T) {
	const n = 10000
	broker := streamstest.Broker(t, 4, "shop.orders")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{ServerErrorShare: 0.05, ThrottleShare: 0.02, ResetShare: 0.01, RetryAfter: fault.Duration(500 * time.Millisecond)}
		c.UPS.UpdatesPerSecond = 20000
		c.UPS.JobDuration = 50 * time.Millisecond
		c.UPS.JobFailShare = 0.05
		c.UPS.Faults = fault.Settings{ServerErrorShare: 0.03, ThrottleShare: 0.02, ResetShare: 0.01, RetryAfter: fault.Duration(500 * time.Millisecond)}
	})
	cfg := ordersConfig(t, broker, sb, "    retry:\n      initial: 5ms\n      max: 200ms\n")
	tr := makeOrders(t, cfg, n)
	streamstest.Produce(t, broker, "shop.orders", tr.msgs...)

	svc := startService(t, cfg)
	streamstest.WaitFor(t, 3*time.Minute, "both sinks to commit the end of the topic", func() (bool, string) {
		for _, g := range []string{"connector-order-events", "connector-order-segments"} {
			if ok, state := streamstest.CaughtUp(t, broker, g, "shop.orders"); !ok {
				return false, g + ": " + state + "; " + fmt.Sprint(svc.Counts())
			}
		}
		return true, ""
	})

	for i, v := range tr.events {
		if sb.Contacthub.AcceptedCount(v) == 0 {
			var why []string
			for _, m := range streamstest.ReadAll(t, broker, "order-events.dlq") {
				if !tr.dead[string(m.Value)] {
					why = append(why, fmt.Sprint(streamstest.Headers(m)))
				}
			}
			t.Fatalf("completedOrder %d never reached Contacthub: %s; counts %v; unexpected dead letters %v", i, v, svc.Counts(), why)
		}
	}
	for user, want := range tr.segments {
		got, _, ok := sb.UPS.Stored(schemas.Segments, user)
		if !ok || !testkit.JSONEqual(got, want) {
			t.Fatalf("user %s holds segments %s, want %s; counts %v", user, got, want, svc.Counts())
		}
	}
	for _, dl := range []struct{ topic, reason, says string }{
		{"order-events.dlq", "mapping", "no customer.externalId"},
		{"order-segments.dlq", "invalid", "output[0]: ups-rr-segments: $.userId: must be a non-empty string"},
	} {
		msgs := streamstest.ReadAll(t, broker, dl.topic)
		seen := map[string]bool{}
		for _, m := range msgs {
			h := streamstest.Headers(m)
			if !tr.dead[string(m.Value)] || h[streams.HeaderDLQReason] != dl.reason || !strings.Contains(h[streams.HeaderDLQError], dl.says) {
				t.Fatalf("%s: unexpected dead letter %s (%v)", dl.topic, m.Value, h)
			}
			seen[string(m.Value)] = true
		}
		if len(seen) != len(tr.dead) {
			t.Fatalf("%s: %d orders dead-lettered, want %d", dl.topic, len(seen), len(tr.dead))
		}
	}
	counts := svc.Counts()
	for _, name := range []string{"order-events", "order-segments"} {
		c := counts[name]
		// At least: a record fetched again after a rebalance (a starved
		// test process can miss a heartbeat) is counted again.
		if c.Filtered < int64(tr.filtered) || c.DeadLettered < int64(len(tr.dead)) || c.InFlight != 0 {
			t.Fatalf("%s: counts %+v, want %d filtered and %d dead-lettered", name, c, tr.filtered, len(tr.dead))
		}
	}
	if c := counts["order-segments"]; c.Delivered < int64(n-tr.filtered-len(tr.dead)) {
		t.Fatalf("order-segments delivered %d records, want every valid order", c.Delivered)
	}
	ch, st := sb.Contacthub.Stats(), sb.UPS.Stats()
	if ch.Faults.ServerErrors == 0 || st.Faults.ServerErrors == 0 || st.JobsFailed == 0 {
		t.Fatalf("faults were not injected: contacthub %+v, ups %+v (jobs failed %d)", ch.Faults, st.Faults, st.JobsFailed)
	}
	t.Logf("%d orders: %d completedOrder events, %d segment records for %d users, %d filtered, %d dead-lettered; contacthub faults %+v duplicates %d; ups faults %+v, %d FAILED jobs; counts %v",
		n, len(tr.events), tr.outputs, len(tr.segments), tr.filtered, len(tr.dead), ch.Faults, ch.DuplicateBodies, st.Faults, st.JobsFailed, counts)
}
