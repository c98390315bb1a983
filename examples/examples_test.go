// Package examples_test runs every example's samples through its sinks'
// mappings with the code of `connector map` (service.Mapper and
// mapping.DryRun) and compares what each sink would do with the expected
// results beside the samples.
package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the expected results")

// summary is what each example must show beyond its expected file: how
// many samples are delivered (with how many outputs), filtered and
// dead-lettered.
type summary struct {
	delivered, outputs, filtered, dead int
}

func TestExamples(t *testing.T) {
	for _, tc := range []struct {
		dir, sink string
		want      summary
	}{
		// OrderPlaced -> completedOrder (bring-back by external id); test
		// traffic and other event types filtered; an order without a
		// customer id is a mapping error.
		{"orders", "order-events", summary{delivered: 2, outputs: 2, filtered: 4, dead: 1}},
		// The same topic -> UPS segments: a gift fans out to its recipient.
		{"orders", "order-segments", summary{delivered: 2, outputs: 3, filtered: 4, dead: 1}},
		// ProductViewed -> viewedProduct of a customer or a session; bots
		// filtered; a bad date refused by the schema.
		{"product-viewed", "product-views", summary{delivered: 2, outputs: 2, filtered: 1, dead: 1}},
		// CRM CustomerUpdated (structured CloudEvents) -> UPS user attributes.
		{"crm-customers", "crm-attributes", summary{delivered: 2, outputs: 2, filtered: 2, dead: 1}},
		// A consent -> an EnableNow categorization request.
		{"consent", "consent-categorization", summary{delivered: 1, outputs: 1, filtered: 2, dead: 1}},
	} {
		t.Run(tc.dir+"/"+tc.sink, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join(tc.dir, "connector.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			prog, check, err := service.Mapper(cfg, tc.sink)
			if err != nil {
				t.Fatal(err)
			}
			samples, err := os.Open(filepath.Join(tc.dir, "samples.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer samples.Close()
			var got bytes.Buffer
			var s summary
			enc := json.NewEncoder(&got)
			err = mapping.DryRun(context.Background(), prog, check, samples, func(r mapping.Result) {
				switch {
				case r.Filtered:
					s.filtered++
				case r.DeadLettered():
					s.dead++
				default:
					s.delivered++
					s.outputs += len(r.Outputs)
				}
				if err := enc.Encode(r); err != nil {
					t.Fatal(err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if s != tc.want {
				t.Errorf("got %+v, want %+v", s, tc.want)
			}
			testkit.Golden(t, filepath.Join(tc.dir, tc.sink+".expected.jsonl"), got.Bytes(), *update)
		})
	}
}
