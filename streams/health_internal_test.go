package streams

import (
	"testing"
	"time"
)

// An idle pipeline asks the brokers every idleProbeEvery intervals; one
// that fetched anything since, holds records in flight, had lag or found
// the brokers silent asks at every interval.
func TestProbeDueSpacesOutOnlyWhenIdle(t *testing.T) {
	const interval = time.Second
	t0 := time.Unix(1_700_000_000, 0)
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * interval) }
	for _, tc := range []struct {
		name string
		// busy makes the pipeline not idle just before the probe at 1.
		busy func(p *Pipeline)
		// want says whether the brokers are asked at 0, 1, 2, 3.
		want [4]bool
	}{
		{"idle", func(*Pipeline) {}, [4]bool{true, false, false, true}},
		{"fetched", func(p *Pipeline) { p.c.consumed.Add(1) }, [4]bool{true, true, false, false}},
		{"in flight", func(p *Pipeline) { p.c.inFlight.Add(1) }, [4]bool{true, true, true, true}},
		{"lag", func(p *Pipeline) { p.c.lag.Store(5) }, [4]bool{true, true, true, true}},
		{"brokers silent", func(p *Pipeline) { p.h.brokerDownSince = at(0) }, [4]bool{true, true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pipeline{cfg: PipelineConfig{Health: HealthPolicy{Interval: interval}}}
			var got [4]bool
			for i := range got {
				if i == 1 {
					tc.busy(p)
				}
				got[i] = p.probeDue(at(i))
			}
			if got != tc.want {
				t.Fatalf("asked at 0..3: %v, want %v", got, tc.want)
			}
		})
	}
}
