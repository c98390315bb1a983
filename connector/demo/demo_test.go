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
	for name, c := range s.Pipelines {
		if c.Consumed == 0 || c.Consumed != c.Delivered+c.DeadLettered {
			t.Errorf("%s: consumed %d != delivered %d + dead-lettered %d", name, c.Consumed, c.Delivered, c.DeadLettered)
		}
	}
	ch, _ := s.Sandbox["contacthub"].(map[string]any)
	if acc, _ := ch["accepted"].(float64); int64(acc) < s.Pipelines["events"].Delivered {
		t.Errorf("sandbox accepted %v < delivered %d", ch["accepted"], s.Pipelines["events"].Delivered)
	}
}
