package ups

import (
	"math"
	"testing"
	"time"
)

// A replica's Pacer takes its share of the API key's rate and bucket, and
// keeps where AIMD stands.
func TestPacerShare(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	tests := []struct {
		name       string
		cut        bool // a 429 cut the pace to 80% first
		shares     []float64
		ceiling    float64
		pace       float64
		burst      int
		maxRequest int
	}{
		{name: "alone", shares: []float64{1}, ceiling: 1000, pace: 1000, burst: 1000, maxRequest: 950},
		// Three replicas: their buckets hold the API's second together, and
		// a request takes at most a quarter of it (sharedRequestShare).
		// Replicas pace a little under their share (sharedHeadroom).
		{name: "a third", shares: []float64{1.0 / 3}, ceiling: 950.0 / 3, pace: 950.0 / 3, burst: 333, maxRequest: 237},
		{name: "a replica died: a half", shares: []float64{1.0 / 3, 0.5}, ceiling: 475, pace: 475, burst: 500, maxRequest: 237},
		{name: "back alone", shares: []float64{0.5, 1}, ceiling: 1000, pace: 1000, burst: 1000, maxRequest: 950},
		{name: "cut, then a half", cut: true, shares: []float64{0.5}, ceiling: 475, pace: 380, burst: 500, maxRequest: 237},
		{name: "no partitions", shares: []float64{0}, ceiling: 0.95, pace: 0.95, burst: 1, maxRequest: 1},
		{name: "more than all", shares: []float64{2}, ceiling: 1000, pace: 1000, burst: 1000, maxRequest: 950},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newTestPacer(1000, 1000)
			if tt.cut {
				p.Throttled(time.Millisecond)
			}
			for _, s := range tt.shares {
				p.SetShare(s)
			}
			if !near(p.Ceiling(), tt.ceiling) || !near(p.Pace(), tt.pace) || !near(float64(p.lim.Limit()), tt.pace) {
				t.Fatalf("ceiling %v, pace %v, limiter %v; want ceiling %v, pace %v", p.Ceiling(), p.Pace(), p.lim.Limit(), tt.ceiling, tt.pace)
			}
			if p.lim.Burst() != tt.burst || p.MaxRequest() != tt.maxRequest {
				t.Fatalf("bucket %d, largest request %d; want %d, %d", p.lim.Burst(), p.MaxRequest(), tt.burst, tt.maxRequest)
			}
		})
	}
}
