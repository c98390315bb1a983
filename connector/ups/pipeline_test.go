package ups

import (
	"context"
	"testing"
	"time"

	sbups "github.com/contactlab/connector/connector/sandbox/ups"
	"github.com/contactlab/connector/streams/streamstest"
)

func TestPipelineGracefulStopTakesTheOutcomesOfOpenJobs(t *testing.T) {
	// The sink lingers an hour for requests to fill, so the records it holds
	// are sent only by the Drain that begins the stop; their jobs end during
	// the grace, and the runtime commits them before the pipeline returns.
	const n = 200
	sb, url := startStandIn(t, func(c *sbups.Config) { c.JobDuration = 300 * time.Millisecond })
	broker := brokerWithUsers(t, n)
	h := newSink(t, testAPIConfig(url), func(c *SinkConfig) { c.Linger = time.Hour })
	p := testPipeline(t, broker, "ups-test", 20*time.Second, h.sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	streamstest.WaitFor(t, 30*time.Second, "every record held by the sink", func() (bool, string) {
		return h.sink.Batcher().Pending() == n, h.sink.Batcher().String()
	})
	for _, part := range p.Parts() {
		if ok, why := part.Ready(); !ok {
			t.Fatalf("%s not ready while the pipeline runs: %s", part.Name(), why)
		}
	}
	if st := sb.Stats(); st.Requests != 0 {
		t.Fatalf("%d requests before the stop; the linger should hold the records", st.Requests)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the pipeline did not stop")
	}
	if ok, state := streamstest.CaughtUp(t, broker, "ups-test", "profiles"); !ok {
		t.Fatalf("after the graceful stop: %s; the outcomes taken during the grace were not committed", state)
	}
	st := sb.Stats()
	if st.RecordsAccepted != n || int64(len(h.results.results())) != st.Jobs {
		t.Fatalf("the API accepted %d records in %d jobs, %d results published", st.RecordsAccepted, st.Jobs, len(h.results.results()))
	}
	if c := p.Counts(); c.Delivered != n || c.InFlight != 0 {
		t.Fatalf("counts %+v", c)
	}
	t.Logf("stopped %s after the stop began", time.Since(start).Round(time.Millisecond))
}
