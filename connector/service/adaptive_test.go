package service_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

func eventsPipeline(t *testing.T, svc *service.Service) *streams.Pipeline {
	t.Helper()
	for _, u := range svc.Units() {
		if p, ok := u.(*streams.Pipeline); ok && p.Name() == "events" {
			return p
		}
	}
	t.Fatal("no events pipeline")
	return nil
}

// With the default concurrency (auto), the limit grows while the API
// answers in 20 ms, falls when the API slows to 500 ms (calls are shed,
// not piled up, and no 429 storm follows), and grows again when it is
// fast again.
func TestAdaptiveConcurrencyFollowsTheAPIsLatency(t *testing.T) {
	kb := newTestKafka(t, kindKfake)
	broker := kb.start(t, 8, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(20 * time.Millisecond)}
	})
	msgs, _, _ := makeEvents(120000, 0)
	streamstest.Produce(t, broker, "web.events", msgs...)
	svc := startService(t, eventsConfig(t, kb, sb, ""))
	p := eventsPipeline(t, svc)
	// From the start at 16, the limit grows while the latency stays flat.
	// How far depends on when this process's own CPU (the broker and the
	// sandbox share it here, under the race detector) starts to add
	// latency: the limiter cannot tell that from the API's.
	streamstest.WaitFor(t, 60*time.Second, "the limit grows at 20 ms", func() (bool, string) {
		n := p.ConcurrencyLimit()
		return n >= 32, strconv.Itoa(n)
	})
	high := p.ConcurrencyLimit()
	sb.Contacthub.Faults().Set(fault.Settings{Latency: fault.Duration(500 * time.Millisecond)})
	// Vegas settles where limit × (1 − 2·20/500) ≈ 6·log10(limit): about 9.
	streamstest.WaitFor(t, 30*time.Second, "the limit falls at 500 ms", func() (bool, string) {
		n := p.ConcurrencyLimit()
		return n <= 20 && n <= high/2, fmt.Sprintf("%d (was %d)", n, high)
	})
	sb.Contacthub.Faults().Set(fault.Settings{Latency: fault.Duration(20 * time.Millisecond)})
	low := p.ConcurrencyLimit()
	streamstest.WaitFor(t, 30*time.Second, "the limit grows again at 20 ms", func() (bool, string) {
		n := p.ConcurrencyLimit()
		return n >= 2*low && n >= 24, fmt.Sprintf("%d (was %d)", n, low)
	})
	if st := sb.Contacthub.Stats(); st.Throttled != 0 {
		t.Fatalf("%d answers were 429", st.Throttled)
	}
}
