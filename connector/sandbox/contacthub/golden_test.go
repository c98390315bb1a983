package contacthub

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestUpdatePageGolden pins the wire format of an update stream page (field
// names and order, the shape of customers, events and deletes): the
// connector's stream source and its tests are written against it. Run with
// -update after a deliberate change.
func TestUpdatePageGolden(t *testing.T) {
	h := newHarness(t, testConfig()) // Seed 42: the same data every run
	h.srv.now = func() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }
	h.srv.AppendUpdates(40)
	_, a := h.page("offset=0&size=40")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, a.body, "", "  "); err != nil {
		t.Fatalf("page is not JSON: %v", err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "updates_page.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("page differs from %s; run with -update if the change is deliberate\n got: %.600s", path, pretty.Bytes())
	}
}
