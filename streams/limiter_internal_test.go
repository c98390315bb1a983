package streams

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// api is a simulated API for the limiter: calls answer in base while at
// most knee are in flight, and beyond that they queue, so the round trip
// grows with the calls in flight. demand caps the calls the pipeline has
// to send (0: a backlog, as many as the limit allows).
type api struct {
	base         time.Duration
	knee, demand int
}

func (a api) rtt(inFlight int) time.Duration {
	if inFlight <= a.knee {
		return a.base
	}
	return a.base * time.Duration(inFlight) / time.Duration(a.knee)
}

// roundTrips runs n round trips of l against a: each sends as many calls
// as the limit (and the demand) allows, which all answer after the same
// round trip. It returns the limit after each.
func roundTrips(l *limiter, a api, now *time.Time, n int) []int {
	var limits []int
	for range n {
		calls := int(l.limit)
		if a.demand > 0 {
			calls = min(calls, a.demand)
		}
		rtt := a.rtt(calls)
		*now = now.Add(rtt)
		l.inFlight = calls
		for range calls {
			l.inFlight--
			l.sample(rtt, false, *now)
		}
		limits = append(limits, int(l.limit))
	}
	return limits
}

func newTestLimiter(minLimit, maxLimit int) *limiter {
	return newLimiter(Concurrency{Min: minLimit, Max: maxLimit}, prometheus.NewGauge(prometheus.GaugeOpts{Name: "limit"}))
}

// From its start at 16, the limit grows fast while the round trip stays
// flat (slow start), stops growing at the first sign of a queue, and
// settles where Vegas (with its tolerance of twice the floor) puts it:
// about twice the calls the API answers without queueing.
func TestLimiterStartsSlowAndGrowsFast(t *testing.T) {
	now := time.Unix(0, 0)
	l := newTestLimiter(8, 4096)
	a := api{base: 20 * time.Millisecond, knee: 200}
	limits := roundTrips(l, a, &now, 200)
	// Additive growth (log10(limit) at each decision, four a round trip)
	// takes about 30 round trips from 16 to 256.
	if limits[7] < 256 {
		t.Fatalf("limit after 8 round trips at a flat 20 ms: %d, want at least 256 (%v)", limits[7], limits[:8])
	}
	if l.slowStart {
		t.Fatal("still in slow start after the round trip rose")
	}
	peak := 0
	for _, n := range limits {
		peak = max(peak, n)
	}
	// Past the knee, queued = limit − 2·knee: it grows up to 2·knee plus
	// a few log10(limit) and stops there.
	if last := limits[len(limits)-1]; last < 2*a.knee || last > 2*a.knee+30 {
		t.Fatalf("limit settled at %d, want about %d (%v)", last, 2*a.knee, limits)
	}
	// Slow start ends where the round trip first rises by half (about
	// 1.5·knee here); the rest is additive, so nothing overshoots by more
	// than a few steps.
	if peak > 2*a.knee+40 {
		t.Fatalf("slow start overshot to %d (%v)", peak, limits)
	}
}

// A pipeline that sends fewer calls than its limit does not raise it: it
// learns nothing about a larger one.
func TestLimiterGrowsOnlyWhileUsed(t *testing.T) {
	now := time.Unix(0, 0)
	l := newTestLimiter(8, 512)
	limits := roundTrips(l, api{base: 20 * time.Millisecond, knee: 1000, demand: 10}, &now, 100)
	if last := limits[len(limits)-1]; last > 20 {
		t.Fatalf("limit %d with 10 calls in flight, want at most 20 (%v)", last, limits)
	}
	// Once the demand comes, it grows.
	limits = roundTrips(l, api{base: 20 * time.Millisecond, knee: 1000}, &now, 10)
	if last := limits[len(limits)-1]; last < 256 {
		t.Fatalf("limit %d after 10 round trips of a backlog (%v)", last, limits)
	}
}

// Overload cuts the limit by a fifth, once a round trip, and ends slow
// start: growth after it is additive.
func TestLimiterOverloadEndsSlowStart(t *testing.T) {
	now := time.Unix(0, 0)
	l := newTestLimiter(8, 4096)
	a := api{base: 20 * time.Millisecond, knee: 10000}
	roundTrips(l, a, &now, 4)
	before := l.limit
	l.inFlight = int(l.limit)
	for range 10 { // a burst of failures of calls sent together
		l.inFlight--
		l.sample(a.base, true, now)
	}
	if l.slowStart {
		t.Fatal("slow start survived an overload")
	}
	if want := before * 0.8; l.limit != want {
		t.Fatalf("limit %.1f after a burst of overload at %.1f, want one cut to %.1f", l.limit, before, want)
	}
	cut := l.limit
	roundTrips(l, a, &now, 1)
	// Four decisions of log10(limit) a round trip.
	if grown := l.limit - cut; grown <= 0 || grown > 4*3 {
		t.Fatalf("limit grew by %.1f in a round trip after the overload, want a few", grown)
	}
}

// A slot given back without a call (a pipeline stopping) tells nothing
// about the round trip.
func TestLimiterIgnoresSlotsGivenBackUnused(t *testing.T) {
	l := newTestLimiter(8, 512)
	l.inFlight = 1
	l.release(0, false)
	if l.samples != 0 || l.minCur != 0 {
		t.Fatalf("an unused slot was sampled: %d samples, floor %v", l.samples, l.minCur)
	}
}
