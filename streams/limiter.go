package streams

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Concurrency is how many Sink.Write calls a pipeline runs at once: a fixed
// number, or adaptive between Min and Max.
type Concurrency struct {
	// Fixed, when above zero, is the number of Write calls at once.
	Fixed int
	// Min and Max bound the adaptive limit (Fixed == 0).
	Min, Max int
}

// limiter is the adaptive concurrency limit of the request-per-record
// sinks, in the manner of TCP Vegas: it estimates the requests queued
// (somewhere: in this process, the network or the API) as
// limit × (1 − rttTolerance·minRTT/RTT) and grows the limit while that queue is short,
// shrinks it when it is long, and cuts it by a fifth at once on a sign of
// overload (429, 5xx, a timeout). The floor of the round-trip time is
// forgotten slowly, so a permanent change of the API's latency becomes the
// new baseline. A fixed limit is a limiter with Min == Max.
//
// Like TCP, it starts slow and grows fast: until the first sign of a queue
// (the call that prompts a decision took half again the floor's round
// trip) or of overload it grows by a quarter at each decision (about ×2.4
// a round trip) instead of by log10(limit); from then on, as Vegas. And
// like Netflix's limiters, it grows only while the calls use at least half
// of it: a pipeline that sends fewer calls than its limit learns nothing
// about a larger one, and would otherwise drift to Max and send a burst
// there.
type limiter struct {
	mu       sync.Mutex
	cond     *sync.Cond
	limit    float64
	min, max float64
	inFlight int

	// The floor of the RTT (the API's own latency) is the minimum over
	// the current and the previous window: a lower latency is learnt at
	// once, a higher one after one to two windows.
	minCur, minPrev time.Duration
	windowAt        time.Time
	avgRTT          float64 // smoothed RTT of recent calls, nanoseconds
	samples         int
	lastCut         time.Time
	gauge           prometheus.Gauge
	fixedOnly       bool
	// slowStart is true until the first decision not to grow, or the
	// first overload.
	slowStart bool
}

// Vegas thresholds, in estimated queued requests: below alpha·log10(limit)
// the limit grows, above beta·log10(limit) it shrinks, by log10(limit) a
// step (as Netflix's concurrency-limits VegasLimit): large limits still
// move, small ones are not starved.
const (
	vegasAlpha = 3
	vegasBeta  = 6
	// minRTTWindow is the length of a window of the RTT floor.
	minRTTWindow = 30 * time.Second
	// rttTolerance is how far above its floor the round-trip time may
	// rise before it counts as queueing (Netflix's Gradient2Limit uses a
	// tolerance too). Calls in flight by the hundred cost CPU, in this
	// process and in what answers them, which shows in their round trips
	// while more calls still bring more throughput. With none (plain
	// Vegas) the limit stopped at about 100 where hand-tuning found 256 to
	// 512 (make bench, events at 20 ms: 4,350/s against 8,100 to
	// 9,100/s); at 1.5 it stopped near 300 with the calls at 30 ms, where
	// 512 in flight ran at 34 ms and 30% faster (11,600/s against
	// 15,100/s); at 2 it finds 97% of the best fixed concurrency. An API
	// that slows down (20 ms to 500 ms) is still far past it, and the
	// limit still falls.
	rttTolerance = 2.0
	// slowStartExit ends slow start at the first decision whose call took
	// this many times the floor's round trip. The average the Vegas
	// estimate uses lags a round trip behind: on it alone, growing ×2.4 a
	// round trip overshot the limit Vegas settles at by more than twice.
	slowStartExit = 1.5
)

func newLimiter(c Concurrency, gauge prometheus.Gauge) *limiter {
	l := &limiter{gauge: gauge}
	if c.Fixed > 0 {
		l.min, l.max, l.limit, l.fixedOnly = float64(c.Fixed), float64(c.Fixed), float64(c.Fixed), true
	} else {
		l.min, l.max = float64(max(1, c.Min)), float64(max(c.Min, c.Max, 1))
		// Start low and let the measurements raise it: starting at the
		// maximum would pile up requests on a slow API at once.
		l.limit = max(l.min, min(l.max, 16))
		l.slowStart = true
	}
	l.cond = sync.NewCond(&l.mu)
	l.gauge.Set(l.limit)
	return l
}

// acquire waits for a slot under the current limit, or until ctx ends.
func (l *limiter) acquire(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.inFlight >= int(l.limit) {
		if ctx.Err() != nil {
			return false
		}
		// ctx's end is signalled through wake (see run): Cond has no
		// select.
		l.cond.Wait()
	}
	l.inFlight++
	return true
}

// release gives the slot back with the call's round-trip time and whether
// it showed overload; a zero rtt gives back a slot that made no call.
func (l *limiter) release(rtt time.Duration, overload bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	if !l.fixedOnly && (rtt > 0 || overload) {
		l.sample(rtt, overload, time.Now())
	}
	l.cond.Broadcast()
}

// wake lets every waiter look at its context again.
func (l *limiter) wake() {
	l.mu.Lock()
	l.cond.Broadcast()
	l.mu.Unlock()
}

func (l *limiter) sample(rtt time.Duration, overload bool, now time.Time) {
	if rtt <= 0 {
		rtt = time.Microsecond
	}
	if now.Sub(l.windowAt) > minRTTWindow {
		l.minPrev, l.minCur, l.windowAt = l.minCur, 0, now
	}
	if l.minCur == 0 || rtt < l.minCur {
		l.minCur = rtt
	}
	minRTT := l.minCur
	if l.minPrev != 0 && l.minPrev < minRTT {
		minRTT = l.minPrev
	}
	// A cheap moving average: the last ~limit calls weigh the most.
	w := 1 / math.Max(4, l.limit)
	if l.avgRTT == 0 {
		l.avgRTT = float64(rtt)
	} else {
		l.avgRTT += w * (float64(rtt) - l.avgRTT)
	}
	l.samples++
	old := l.limit
	switch {
	case overload:
		// One cut per average round trip: a burst of failures of calls
		// sent together is one signal, not many.
		if now.Sub(l.lastCut) > time.Duration(l.avgRTT) {
			l.limit = math.Max(l.min, l.limit*0.8)
			l.lastCut = now
		}
		l.slowStart = false
	case l.samples%int(math.Max(1, l.limit/4)) == 0:
		// Decide every quarter of a window of calls.
		queued := l.limit * (1 - rttTolerance*float64(minRTT)/l.avgRTT)
		lg := math.Max(1, math.Log10(l.limit))
		switch {
		case queued < vegasAlpha*lg:
			// The call just released counts as in use.
			if float64(l.inFlight+1) < l.limit/2 {
				break
			}
			step := lg
			if l.slowStart && float64(rtt) <= slowStartExit*float64(minRTT) {
				step = math.Max(lg, l.limit/4)
			} else {
				l.slowStart = false
			}
			l.limit = math.Min(l.max, l.limit+step)
		case queued > vegasBeta*lg:
			l.limit = math.Max(l.min, l.limit-lg)
			l.slowStart = false
		default:
			l.slowStart = false
		}
	}
	if l.limit != old {
		l.gauge.Set(math.Floor(l.limit))
	}
}

// current is the limit now.
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// ConcurrencyLimit is how many Write calls the pipeline allows at once now
// (the adaptive limit, or the fixed one).
func (p *Pipeline) ConcurrencyLimit() int { return p.limit.current() }
