// Package orderstest gives the tests and benchmarks the orders example's
// mappings compiled. Package orders cannot: connector/mapping's own
// benchmarks import it, and it would then import connector/mapping back.
package orderstest

import (
	"testing"

	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/examples/orders"
)

// Mappings compiles the example's two mappings, as connector.yaml names
// them: completed_order.jq (an OrderPlaced to a Contacthub completedOrder
// event) and ups_segments.jq (an OrderPlaced to UPS segment records). It
// fails tb if either does not compile.
func Mappings(tb testing.TB) (events, segments *mapping.Program) {
	tb.Helper()
	events, err := mapping.Compile("completed_order.jq", orders.CompletedOrderMapping)
	if err != nil {
		tb.Fatal(err)
	}
	segments, err = mapping.Compile("ups_segments.jq", orders.SegmentsMapping)
	if err != nil {
		tb.Fatal(err)
	}
	return events, segments
}
