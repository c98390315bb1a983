package mapping

import (
	"context"
	"testing"
	"time"

	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/streams"
)

// BenchmarkMappingOrderPlaced is the CPU cost of the mapping alone per
// record: the input document of an OrderPlaced record (JSON parsed, headers,
// position), the completedOrder program run on it, its output encoded.
// Like the pipeline benchmarks it does a fixed amount of work whatever b.N
// is (make bench passes -benchtime 1x), and reports µs of CPU per record.
func BenchmarkMappingOrderPlaced(b *testing.B) {
	const n = 20000
	prog, err := Compile("completed_order.jq", orders.CompletedOrderMapping)
	if err != nil {
		b.Fatal(err)
	}
	g := orders.NewTraffic(5, 2000)
	g.TestShare, g.NoCustomerShare = 0, 0
	recs := make([]*streams.Record, 1000)
	for i := range recs {
		k, v, _ := g.Next()
		recs[i] = &streams.Record{Topic: "shop.orders", Key: k, Value: v, Offset: int64(i), Time: time.Now(),
			Headers: []streams.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range max(1, b.N) {
		for i := range n {
			in, err := Input(recs[i%len(recs)])
			if err != nil {
				b.Fatal(err)
			}
			outs, err := prog.Run(ctx, in)
			if err != nil || len(outs) != 1 {
				b.Fatalf("%v %d", err, len(outs))
			}
		}
	}
	per := time.Since(start) / time.Duration(n*max(1, b.N))
	b.ReportMetric(float64(per.Nanoseconds())/1000, "us/record")
	b.ReportMetric(1e9/float64(per.Nanoseconds()), "records/s-per-core")
}
