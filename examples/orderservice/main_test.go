package main

import (
	"context"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/examples/orders/orderstest"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// The service's events, as they are on the topic, are what the connector's
// orders mappings take: every acknowledged order makes a valid
// completedOrder event and segment records; the orders its rules refuse
// are not on the topic.
func TestOrderServiceFeedsTheOrdersMappings(t *testing.T) {
	broker := streamstest.Broker(t, 2, "shop.orders")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	placed, err := run(ctx, []string{broker}, "shop.orders", 200, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	msgs := streamstest.ReadAll(t, broker, "shop.orders")
	if placed < 190 || len(msgs) != placed {
		t.Fatalf("%d placed, %d on the topic (about 1%% are refused for want of a customer)", placed, len(msgs))
	}
	events, segments := orderstest.Mappings(t)
	for _, m := range msgs {
		r := &streams.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, streams.Header{Key: h.Key, Value: h.Value})
		}
		if e, err := streams.CloudEventOf(r); err != nil || e == nil || e.Type() != orders.EventType || e.ID() == "" {
			t.Fatalf("record %s: not the shop's CloudEvent: %v", m.Value, err)
		}
		ev := mapping.Map(ctx, events, func(v []byte) error { _, err := schemas.DecodeEvent(v); return err }, r)
		seg := mapping.Map(ctx, segments, nil, r)
		if ev.DeadLettered() || len(ev.Outputs) != 1 || seg.DeadLettered() || len(seg.Outputs) == 0 {
			t.Fatalf("order %s: events %+v, segments %+v", m.Value, ev, seg)
		}
	}
}
