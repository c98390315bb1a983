package contacthub

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
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
	testkit.Golden(t, filepath.Join("testdata", "updates_page.golden.json"), pretty.Bytes(), *update)
}
