package service_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams/streamstest"
)

// Benchmarks here run a fixed amount of work once whatever b.N is (make
// bench passes -benchtime 1x): each is a whole system (broker, sandbox,
// connector) whose figure is a rate over that work, not a time per op.

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkEventsSink: sustained events/s into a Contacthub answering in 20 ms
// with no throttling; target at least 3,000 events/s on 2 cores.
func BenchmarkEventsSink(b *testing.B) { benchmarkEvents(b, kindKfake) }

// BenchmarkEventsRealKafka is BenchmarkEventsSink with a real Apache Kafka
// broker (internal/kafkatest, one node, started by the benchmark; or the
// cluster KAFKA_TEST_BROKERS names) in place of kfake: what the broker
// costs the same pipeline; same target.
func BenchmarkEventsRealKafka(b *testing.B) { benchmarkEvents(b, kindKafka) }

func benchmarkEvents(b *testing.B, kind string) {
	n := envInt("EVENTS_BENCH_N", 30000)
	kb := newTestKafka(b, kind)
	broker := kb.start(b, 8, "web.events")
	sb := sandboxtest.Start(b, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(20 * time.Millisecond)}
	})
	msgs, _, _ := makeEvents(n, 0)
	streamstest.Produce(b, broker, kb.name("web.events"), msgs...)
	cfg := eventsConfig(b, kb, sb, "") // the defaults users get
	svc, err := service.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	m := streamstest.StartMeter()
	runService(b, svc)
	streamstest.WaitFor(b, 10*time.Minute, "all events delivered", func() (bool, string) {
		st := sb.Contacthub.Stats()
		return st.Accepted >= int64(n), strconv.FormatInt(st.Accepted, 10)
	})
	m.Stop(b, int64(n), "events", 10000)
}

// BenchmarkEventsThrottled: a workspace throttled at 6000 requests/min (100/s)
// with a backlog: the connector paces itself below the limit, delivering at
// least 97% of 100/s with no 429.
func BenchmarkEventsThrottled(b *testing.B) {
	secs := envInt("EVENTS_THROTTLED_SECONDS", 20)
	kb := newTestKafka(b, kindKfake)
	broker := kb.start(b, 4, "web.events")
	sb := sandboxtest.Start(b, func(c *sandbox.Config) { c.Contacthub.MaxRequestsPerMinute = 6000 })
	msgs, _, _ := makeEvents(150*secs, 0)
	streamstest.Produce(b, broker, "web.events", msgs...)
	startService(b, eventsConfig(b, kb, sb, ""))
	streamstest.WaitFor(b, 30*time.Second, "first delivery", func() (bool, string) { return sb.Contacthub.Stats().Accepted > 0, "" })
	// Measure after the first second: the bucket starts full on both sides.
	time.Sleep(time.Second) // warm-up period of the measurement, not synchronisation
	a0, t0 := sb.Contacthub.Stats().Accepted, time.Now()
	time.Sleep(time.Duration(secs) * time.Second) // the measurement window itself
	st := sb.Contacthub.Stats()
	rate := float64(st.Accepted-a0) / time.Since(t0).Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(100*rate/100, "pct-of-limit")
	b.ReportMetric(float64(st.Throttled), "429s")
}
