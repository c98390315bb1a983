package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	sbups "github.com/contactlab/connector/connector/sandbox/ups"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams/streamstest"
)

// The UPS benchmarks run the four ups pipelines (one per collection, sharing
// one pacer) against the sandbox over TCP. Like the other benchmarks here
// they do a fixed amount of work once whatever b.N is (make bench passes
// -benchtime 1x).

// produceUPS produces perCollection valid updates to each upstream topic,
// for users users per collection, a chunk at a time so the benchmark's own
// copies do not weigh on the peak RSS it reports.
func produceUPS(b *testing.B, broker string, perCollection, users int) {
	b.Helper()
	const chunk = 20000
	for _, p := range upsPipelines {
		g := demo.NewUPSTraffic(7, users, p.coll)
		g.InvalidShare = 0
		for done := 0; done < perCollection; done += chunk {
			msgs := make([]kafka.Message, min(chunk, perCollection-done))
			for i := range msgs {
				k, v, _ := g.Next()
				msgs[i] = kafka.Message{Key: k, Value: v}
			}
			streamstest.Produce(b, broker, p.topic, msgs...)
		}
	}
}

// upsApplied is how many records the sandbox's completed jobs applied.
func upsApplied(sb *sandbox.Sandbox) int64 {
	var n int64
	for _, c := range sb.UPS.Stats().PerCollection {
		n += c.Updates
	}
	return n
}

// BenchmarkUPSAtRateLimit: the sandbox enforces the API's 1000 updates/s per
// API key, and a backlog waits in the four topics. Over UPS_BENCH_SECONDS
// (default 60) from the first accepted request, it reports the records
// whose jobs completed per second ("delivered/s"; target >= 990), 429
// answers as a percent of requests ("429-pct"; target <= 1) and the mean
// request fill against the binding limit, the larger of records/1000 and
// bytes/50 KB ("fill-pct"; target >= 90).
func BenchmarkUPSAtRateLimit(b *testing.B) {
	secs := envInt("UPS_BENCH_SECONDS", 60)
	kb := newTestKafka(b, kindKfake)
	broker := kb.start(b, 4, upsTopics()...)
	sb := sandboxtest.Start(b, nil) // the reference's limits: 1000/s, 1000 records, 50 KB
	// A backlog the window cannot drain in any collection: the collections
	// take turns at the rate, but not in strict rotation.
	perCollection := 1000*secs/2 + 2000
	produceUPS(b, broker, perCollection, 10*perCollection)
	// The defaults users get, but a short shutdown grace: the backlog left
	// queued at the end need not drain.
	svc := startService(b, upsConfig(b, kb, sb, "", "    shutdown_grace: 1s\n", ""))
	streamstest.WaitFor(b, 60*time.Second, "the first accepted request", func() (bool, string) {
		return sb.UPS.Stats().Accepted > 0, ""
	})
	m := streamstest.StartMeter()
	time.Sleep(time.Duration(secs) * time.Second) // the measurement window itself, not synchronisation
	delivered := upsApplied(sb)
	st := sb.UPS.Stats()
	m.Stop(b, delivered, "delivered", 10000)
	b.ReportMetric(100*float64(st.Throttled429)/float64(max(st.Requests, 1)), "429-pct")
	b.ReportMetric(100*max(st.MeanFillRecords/sbups.DefaultMaxRecords, st.MeanBodyBytes/sbups.DefaultMaxBodyBytes), "fill-pct")
	b.Logf("window %ds: applied %d, requests %d (accepted %d, 429 %d), mean fill %.0f records / %.0f bytes; pipelines %v",
		secs, delivered, st.Requests, st.Accepted, st.Throttled429, st.MeanFillRecords, st.MeanBodyBytes, svc.Counts())
}

// BenchmarkUPSUnlimited: the sandbox's rate limit is lifted (the payload
// limits stay), UPS_UNLIMITED_N updates (default 400,000) wait in the four
// topics, and the connector runs with the defaults users get but an
// unlimited updates_per_second. It reports records/s from the service's
// start to the last record acknowledged (target >= 50,000 on 2 cores), CPU
// seconds per 100,000 records and the peak RSS of the whole process
// (broker, sandbox and connector).
func BenchmarkUPSUnlimited(b *testing.B) {
	n := envInt("UPS_UNLIMITED_N", 400000)
	kb := newTestKafka(b, kindKfake)
	broker := kb.start(b, 4, upsTopics()...)
	sb := sandboxtest.Start(b, func(c *sandbox.Config) { c.UPS.UpdatesPerSecond = sbups.NoLimit })
	perCollection := n / 4
	produceUPS(b, broker, perCollection, 4*perCollection)
	svc, err := service.New(upsConfig(b, kb, sb, "  updates_per_second: 100000000\n", "", ""))
	if err != nil {
		b.Fatal(err)
	}
	m := streamstest.StartMeter()
	runService(b, svc)
	streamstest.WaitFor(b, 10*time.Minute, "every record acknowledged", func() (bool, string) {
		var done int64
		for _, c := range svc.Counts() {
			done += c.Delivered + c.DeadLettered
		}
		return done >= int64(4*perCollection), fmt.Sprint(done)
	})
	m.Stop(b, int64(4*perCollection), "records", 100000)
	st := sb.UPS.Stats()
	b.Logf("requests %d, accepted %d (mean %.0f records, %.0f bytes), applied %d", st.Requests, st.Accepted, st.MeanFillRecords, st.MeanBodyBytes, upsApplied(sb))
}
