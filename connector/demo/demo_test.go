package demo_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/demo"
)

// The embedded default stops by itself and its summary balances: everything
// consumed was delivered or dead-lettered, and the sandbox saw the deliveries.
func TestDemoSummaryBalances(t *testing.T) {
	out := filepath.Join(t.TempDir(), "summary.json")
	err := demo.Run(context.Background(), demo.Options{For: 3 * time.Second, Drain: 30 * time.Second, SummaryJSON: out, BrokerAddr: "127.0.0.1:0", Quiet: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s demo.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Pipelines) == 0 {
		t.Fatal("no pipelines in the summary")
	}
	want := []string{"events", "ups-attributes", "ups-segments", "ups-linking", "ups-preferences", "categorization", "updates", "order-events", "order-segments"}
	for _, name := range want {
		c, ok := s.Pipelines[name]
		if !ok {
			t.Errorf("%s: not in the summary", name)
			continue
		}
		if name == "updates" { // the source: read from Contacthub, published to Kafka
			if c.Delivered == 0 || c.InFlight != 0 {
				t.Errorf("%s: published %d, in flight %d", name, c.Delivered, c.InFlight)
			}
			continue
		}
		if c.Consumed == 0 || c.Consumed != c.Delivered+c.DeadLettered+c.Filtered {
			t.Errorf("%s: consumed %d != delivered %d + dead-lettered %d + filtered %d", name, c.Consumed, c.Delivered, c.DeadLettered, c.Filtered)
		}
	}
	num := func(api, key string) int64 {
		m, _ := s.Sandbox[api].(map[string]any)
		f, _ := m[key].(float64)
		return int64(f)
	}
	if acc := num("contacthub", "accepted"); acc < s.Pipelines["events"].Delivered {
		t.Errorf("contacthub accepted %d < delivered %d", acc, s.Pipelines["events"].Delivered)
	}
	if created := num("enablenow", "created"); created < s.Pipelines["categorization"].Delivered {
		t.Errorf("enablenow created %d < delivered %d", created, s.Pipelines["categorization"].Delivered)
	}
	// The domain events' pipelines map OrderPlaced and filter test orders.
	for _, name := range []string{"order-events", "order-segments"} {
		if c := s.Pipelines[name]; c.Filtered == 0 || c.Delivered == 0 {
			t.Errorf("%s: delivered %d, filtered %d: want some of each", name, c.Delivered, c.Filtered)
		}
	}
	if num("ups", "records_accepted") == 0 {
		t.Error("the UPS stand-in accepted no records")
	}
	if s.Subscriber < s.Pipelines["updates"].Delivered {
		t.Errorf("the subscriber received %d changes of the %d published", s.Subscriber, s.Pipelines["updates"].Delivered)
	}
}
