package service_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams/streamstest"
)

// connector publish: lines checked as the sink would take them (through
// its mapping); one refused line publishes nothing; accepted lines land with
// their keys and headers.
func TestPublishLines(t *testing.T) {
	broker := streamstest.Broker(t, 2, "shop.orders")
	t.Setenv("KAFKA_BROKERS", broker)
	cfg, err := config.Load("../../examples/orders/connector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	samples, err := os.ReadFile("../../examples/orders/samples.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := service.PublishLines(context.Background(), cfg, "shop.orders", "order-events", bytes.NewReader(samples), &out)
	if err == nil || n != 0 || !strings.Contains(out.String(), "line 9 refused: sink order-events would dead-letter it (mapping)") {
		t.Fatalf("published %d, %v:\n%s", n, err, out.String())
	}
	if end := streamstest.EndOffsets(t, broker, "shop.orders"); end[0]+end[1] != 0 {
		t.Fatalf("records were published: %v", end)
	}

	// Without the order that has no customer: every line is published.
	lines := strings.Split(strings.TrimSpace(string(samples)), "\n")
	good := strings.Join(lines[:len(lines)-1], "\n")
	out.Reset()
	n, err = service.PublishLines(context.Background(), cfg, "shop.orders", "order-events", strings.NewReader(good), &out)
	if err != nil || n != 6 {
		t.Fatalf("published %d, %v:\n%s", n, err, out.String())
	}
	msgs := streamstest.ReadAll(t, broker, "shop.orders")
	var ce int
	for _, m := range msgs {
		if h := streamstest.Headers(m); h["ce_type"] == "com.example.shop.order.placed" && string(m.Key) == "CRM-77001" {
			ce++
		}
	}
	if len(msgs) != 6 || ce != 1 {
		t.Fatalf("%d records, %d with the CloudEvent's headers and key: %v", len(msgs), ce, msgs)
	}
}
