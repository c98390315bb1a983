package mapping

import (
	"context"
	"testing"
	"time"

	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// BenchmarkMappingOrderPlaced is the CPU cost of the mapping alone per
// record: the input document of an OrderPlaced record (JSON parsed, headers,
// position), the completedOrder program run on it, its output encoded.
// Like the pipeline benchmarks it does a fixed amount of work whatever b.N
// is (make bench passes -benchtime 1x), and reports µs of CPU per record:
// the process's CPU time (garbage collection included), not the wall
// time, which other work on the machine would inflate.
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
	start, cpu0 := time.Now(), streamstest.CPUTime()
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
	records := time.Duration(n * max(1, b.N))
	cpu, wall := (streamstest.CPUTime()-cpu0)/records, time.Since(start)/records
	b.ReportMetric(float64(cpu.Nanoseconds())/1000, "us/record")
	b.ReportMetric(1e9/float64(wall.Nanoseconds()), "records/s")
}
