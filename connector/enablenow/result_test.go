package enablenow_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The results topic is read by other applications: its format is pinned.
func TestJobResultWireFormat(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	results := []enablenow.JobResult{
		{RequestKey: []byte("af86536d"), JobID: "5d0c2a9e-7f1b-4c3a-9e2d-1b2c3d4e5f60", Status: "Queued",
			IdempotencyKey: "d1bd4fe6", Source: enablenow.Source{Topic: "categorization.requests", Partition: 2, Offset: 1041}, At: at},
		{RequestKey: []byte("af86536d"), JobID: "5d0c2a9e-7f1b-4c3a-9e2d-1b2c3d4e5f60", Status: "Completed", Terminal: true, Final: true,
			IdempotencyKey: "d1bd4fe6", Source: enablenow.Source{Topic: "categorization.requests", Partition: 2, Offset: 1041}, At: at.Add(3 * time.Second)},
		{RequestKey: []byte("user_12345"), JobID: "0b7e", Status: "Queued", Replayed: true, Final: true,
			IdempotencyKey: "77aa", Source: enablenow.Source{Topic: "categorization.requests", Partition: 0, Offset: 7}, At: at},
		{RequestKey: []byte("user_12345"), JobID: "0b7e", Status: "Running", Final: true,
			IdempotencyKey: "77aa", Source: enablenow.Source{Topic: "categorization.requests", Partition: 0, Offset: 7}, At: at.Add(time.Hour),
			Error: "job not ended after 1h0m0s; no longer followed"},
	}
	var buf bytes.Buffer
	for _, r := range results {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	testkit.Golden(t, filepath.Join("testdata", "job-result.golden.jsonl"), buf.Bytes(), *update)
}
