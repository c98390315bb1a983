package ups

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/contactlab/connector/streams"
)

// AIMD figures. A 429 cuts the pace by decreaseFactor (at most once per
// cutWindow, so a volley of 429s answering requests sent together counts as
// one signal); without 429s the pace grows back by increasePerSecond of the
// ceiling each second, from a cut to 0.8 in about ten seconds.
const (
	decreaseFactor    = 0.8
	increasePerSecond = 0.02
	minPaceShare      = 0.05 // the pace never drops below this share of the ceiling
	cutWindow         = time.Second
	// defaultRetryAfter is the pause after a 429 that named no wait.
	defaultRetryAfter = time.Second
)

// Pacer keeps the enrichment requests of every UPS sink of the process under
// the API key's limit, which the API counts in records (user updates) per
// second across the four collections. It is one token bucket counted in
// records, holding one second's worth like the API's, whose rate follows
// AIMD: cut multiplicatively on each 429, with a pause for the answer's
// Retry-After, grown back additively up to the ceiling.
//
// Requests are paced in turns: a sender takes the turn, waits until the
// bucket holds a full request's worth of records, builds the request from
// what is queued by then and spends exactly its records. Building after the
// wait makes requests as full as possible and keeps the records that wait
// for the rate in the queue, where newer updates can still replace them.
//
// The API's bucket and ours fill at the same rate, but the API counts a
// request when it arrives and we count it when we send it. Two measures
// keep jitter between the two clocks from turning into 429s at full pace:
// a request takes at most 95% of the bucket (MaxRequest), so it fits
// although the API's bucket is not quite full; and a request answered more
// slowly than the quickest recent ones delays the next by the difference
// (Answered), since it may have arrived that much late.
type Pacer struct {
	lim *rate.Limiter
	// maxRecords is the most records one request holds (the API's limit):
	// with a bucket far larger than that, a request is this size, not a
	// share of the bucket.
	maxRecords int
	ceiling    float64
	// full and fullBurst are the ceiling and bucket of the whole API key;
	// ceiling and the bucket are this process's share of them (share.go).
	full      float64
	fullBurst int
	turn      chan struct{}
	now       func() time.Time

	mu          sync.Mutex
	pace        float64
	pausedUntil time.Time
	lastCut     time.Time
	lastGrow    time.Time
	cuts        int64
	rtts        [rttWindow]time.Duration // recent answer times, a ring
	nRTT        int
}

// rttWindow is how many recent answer times the shortest is taken from.
const rttWindow = 32

// NewPacer paces at ceiling records per second with a bucket of burst
// records (at least the largest request, or it could never be sent).
func NewPacer(ceiling float64, burst, maxRecords int) *Pacer {
	return &Pacer{
		lim:        rate.NewLimiter(rate.Limit(ceiling), burst),
		maxRecords: max(1, maxRecords),
		ceiling:    ceiling,
		full:       ceiling,
		fullBurst:  burst,
		turn:       make(chan struct{}, 1),
		now:        time.Now,
		pace:       ceiling,
		lastGrow:   time.Now(),
	}
}

// Turn waits for the turn to build and pace one request; release ends it.
func (p *Pacer) Turn(ctx context.Context) (release func(), err error) {
	select {
	case p.turn <- struct{}{}:
		return func() { <-p.turn }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// bucketShare is the largest share of the bucket one request may take.
// The API's bucket holds one second's worth too, so a request as large as
// the bucket is accepted only if it arrives when the API's bucket is
// exactly full: any jitter between our clock and the API's would then be a
// 429. At 95%, requests arrive with 50 ms of slack at 1000 records/s, and
// cost nothing in rate, which the pace alone sets.
const bucketShare = 0.95

// MaxRequest is the most records one request may take from the bucket: a
// share of the bucket, and never more than a request holds. (With a pace far
// above the request size, sizing by the bucket alone made every request
// spend, and every slow answer owe, seconds of the bucket, stalling all the
// sinks for as long.)
func (p *Pacer) MaxRequest() int {
	n := min(p.maxRecords, int(bucketShare*float64(p.lim.Burst())))
	if p.lim.Burst() < p.fullBurst {
		// A replica (SetShare): see sharedRequestShare.
		n = min(n, int(bucketShare*sharedRequestShare*float64(p.fullBurst)))
	}
	return max(1, n)
}

// WaitFor waits, holding the turn, until the bucket holds want records and
// no Retry-After pause is running. It returns how many records the bucket
// holds then (at least want, unless the bucket is smaller).
func (p *Pacer) WaitFor(ctx context.Context, want int) (int, error) {
	want = min(want, p.lim.Burst())
	for {
		now := p.now()
		wait := p.grow(now)
		if wait <= 0 {
			tokens := p.lim.TokensAt(now)
			if tokens >= float64(want) {
				return int(math.Min(tokens, float64(p.lim.Burst()))), nil
			}
			limit := float64(p.lim.Limit())
			wait = time.Duration((float64(want) - tokens) / limit * float64(time.Second))
			// The bucket's rate may grow while we wait; waiting in slices
			// of at most a second picks that up.
			wait = min(max(wait, time.Millisecond), time.Second)
		}
		if !streams.Sleep(ctx, wait) {
			return 0, ctx.Err()
		}
	}
}

// Spend takes n records from the bucket for a request about to be sent.
// The caller holds the turn and waited for them, so they are there; when
// they are not (the pace was cut meanwhile), the bucket goes into debt and
// the next request waits longer, which is what the cut asks for.
func (p *Pacer) Spend(n int) {
	if n <= 0 {
		return
	}
	r := p.lim.ReserveN(p.now(), min(n, p.lim.Burst()))
	_ = r // a reservation's delay is paid by the next WaitFor, not here
}

// Answered records that an accepted request was answered after rtt. The
// API counts a request when it arrives and the Pacer when it is sent: a
// request slower than the quickest recent ones may have arrived that much
// later, and the API's bucket refilled that much later too. The Pacer owes
// the difference, so the next request keeps its distance from this one as
// the API sees them. (The first answer has nothing to compare with and
// counts whole.)
func (p *Pacer) Answered(rtt time.Duration) {
	p.mu.Lock()
	base := time.Duration(0)
	if p.nRTT > 0 {
		base = p.rtts[0]
		for _, r := range p.rtts[1:min(p.nRTT, rttWindow)] {
			base = min(base, r)
		}
	}
	p.rtts[p.nRTT%rttWindow] = rtt
	p.nRTT++
	pace := p.pace
	p.mu.Unlock()
	now := p.now()
	// Only a bucket near empty is paced by the API's clock; one that holds
	// more than a couple of requests owes nothing, or debts of requests in
	// flight together would add up to a pace the bucket never set.
	if p.lim.TokensAt(now) >= float64(2*p.MaxRequest()) {
		return
	}
	if owed := int((rtt - base).Seconds() * pace); owed > 0 {
		p.lim.ReserveN(now, min(owed, p.lim.Burst()))
	}
}

// Throttled records a 429: the pace is cut (once per cutWindow) and no
// request is sent until retryAfter has passed.
func (p *Pacer) Throttled(retryAfter time.Duration) {
	if retryAfter <= 0 {
		retryAfter = defaultRetryAfter
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := now.Add(retryAfter); until.After(p.pausedUntil) {
		p.pausedUntil = until
	}
	if now.Sub(p.lastCut) < cutWindow {
		return
	}
	p.lastCut = now
	p.cuts++
	p.pace = math.Max(p.pace*decreaseFactor, p.ceiling*minPaceShare)
	p.lastGrow = now
	p.lim.SetLimitAt(now, rate.Limit(p.pace))
}

// grow adds back the pace earned since the last call and returns how long
// a pause still runs.
func (p *Pacer) grow(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.pausedUntil) {
		return p.pausedUntil.Sub(now)
	}
	if p.pace < p.ceiling {
		// The pace grows back from the end of a pause, not during it.
		from := p.lastGrow
		if p.pausedUntil.After(from) {
			from = p.pausedUntil
		}
		d := now.Sub(from).Seconds()
		p.pace = math.Min(p.ceiling, p.pace+d*increasePerSecond*p.ceiling)
		p.lim.SetLimitAt(now, rate.Limit(p.pace))
	}
	p.lastGrow = now
	return 0
}

// Pace is the current pace in records per second.
func (p *Pacer) Pace() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pace
}

// Cuts is how many times a 429 cut the pace.
func (p *Pacer) Cuts() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// String describes the pacer for logs.
func (p *Pacer) String() string {
	return fmt.Sprintf("pacer(%.0f/s of %.0f/s)", p.Pace(), p.ceiling)
}
