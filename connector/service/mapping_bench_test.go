package service_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/examples/orders/orderstest"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// BenchmarkEventsMapped: events/s through the events sink when each record
// is an OrderPlaced mapped to a completedOrder (examples/orders), beside
// the same events produced already mapped and sent without a mapping; both
// against a Contacthub answering in 20 ms, each with its own broker and
// sandbox. Target: the mapped rate at least 80% of the unmapped one.
func BenchmarkEventsMapped(b *testing.B) {
	n := envInt("EVENTS_BENCH_N", 30000)
	prog, _ := orderstest.Mappings(b)
	g := orders.NewTraffic(5, 2000)
	g.TestShare, g.NoCustomerShare = 0, 0
	domain := make([]kafka.Message, n)
	mapped := make([]kafka.Message, n)
	for i := range n {
		k, v, _ := g.Next()
		outs, err := prog.Run(context.Background(), mustInput(b, &streams.Record{Key: k, Value: v}))
		if err != nil || len(outs) != 1 {
			b.Fatalf("mapping %s: %v", v, err)
		}
		domain[i] = kafka.Message{Key: k, Value: v}
		mapped[i] = kafka.Message{Key: k, Value: outs[0]}
	}
	run := func(msgs []kafka.Message, extra string) (perSecond, cpuPer10k float64) {
		kb := newTestKafka(b, kindKfake)
		broker := kb.start(b, 8, "web.events")
		sb := sandboxtest.Start(b, func(c *sandbox.Config) {
			c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(20 * time.Millisecond)}
		})
		streamstest.Produce(b, broker, "web.events", msgs...)
		svc, err := service.New(eventsConfig(b, kb, sb, extra))
		if err != nil {
			b.Fatal(err)
		}
		start, cpu0 := time.Now(), streamstest.CPUTime()
		stop := runService(b, svc)
		streamstest.WaitFor(b, 10*time.Minute, "all events delivered", func() (bool, string) {
			st := sb.Contacthub.Stats()
			return st.Accepted >= int64(n), strconv.FormatInt(st.Accepted, 10)
		})
		wall, cpu := time.Since(start), streamstest.CPUTime()-cpu0
		_ = stop()
		return float64(n) / wall.Seconds(), cpu.Seconds() * 10000 / float64(n)
	}
	b.ResetTimer()
	plain, plainCPU := run(mapped, "")
	withMapping, mappedCPU := run(domain, "    mapping: |\n"+indentLines(orders.CompletedOrderMapping, "      "))
	b.ReportMetric(withMapping, "events/s")
	b.ReportMetric(plain, "unmapped-events/s")
	b.ReportMetric(100*withMapping/plain, "pct-of-unmapped")
	b.ReportMetric(mappedCPU, "cpu-s/10k-events")
	b.ReportMetric(plainCPU, "unmapped-cpu-s/10k-events")
}

func mustInput(b testing.TB, r *streams.Record) map[string]any {
	in, err := mapping.Input(r)
	if err != nil {
		b.Fatal(err)
	}
	return in
}

func indentLines(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}
