package ups

import (
	"math"

	"golang.org/x/time/rate"
)

// minShare is the smallest share SetShare paces at: a process that owns no
// partition sends nothing anyway, and a bucket of rate 0 never refills.
const minShare = 0.001

// sharedHeadroom is the part of its share a replica paces at when it is
// not alone. One Pacer spaces its own requests (see Answered), but the
// replicas' requests are not spaced against each other: paced at exactly
// the limit together, their jitter would walk the API's bucket down to
// empty, and a 429 follows. 5% under it, the bucket drifts back to full.
const sharedHeadroom = 0.95

// sharedRequestShare is the largest part of the API key's bucket one
// request of a replica may take. Replicas do not space their requests
// against each other, so two may arrive together, and the API's bucket,
// drained by the jitter of three processes on a loaded machine, must hold
// both: with half the bucket each (two replicas left after one died),
// TestScaleOut saw a 429 now and then; with a quarter, a request waits for
// a fraction of what the bucket holds and the refusals went away. A single
// process keeps the whole-bucket requests, which fill the API's limits.
const sharedRequestShare = 0.25

// SetShare makes the Pacer pace at share (0 to 1) of the API key's limit,
// the part that is this process's when several replicas of the connector
// spend one API key: each paces at its share of the ups pipelines'
// partitions (streams.PipelineConfig.OnShare), and the shares of the
// replicas sum to one, less sharedHeadroom. Both the rate and the bucket
// shrink, so that the
// replicas' buckets together hold no more than the API's one second's
// worth and their requests, smaller with the bucket (MaxRequest), never
// add up to a burst it refuses. Where AIMD stands (a pace cut by 429s) is
// kept as a fraction of the new ceiling. Without a call the share is 1.
func (p *Pacer) SetShare(share float64) {
	share = math.Min(1, math.Max(minShare, share))
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	ceiling := p.full * share
	if share < 1 {
		ceiling *= sharedHeadroom
	}
	if ceiling == p.ceiling {
		return
	}
	p.pace = p.pace / p.ceiling * ceiling
	p.ceiling = ceiling
	p.lim.SetLimitAt(now, rate.Limit(p.pace))
	p.lim.SetBurstAt(now, max(1, int(float64(p.fullBurst)*share)))
	// The bucket starts empty at each new share. The shares of a group
	// that is still forming are guesses (one over the members listed so
	// far), and replicas that start together with full buckets of those
	// guesses sent more at once than the API's bucket held: 429s within
	// the first seconds of TestScaleOut. Earning the first request at the
	// new pace costs a fraction of a second, once per rebalance.
	if tokens := p.lim.TokensAt(now); tokens > 0 {
		p.lim.ReserveN(now, int(tokens))
	}
}

// Ceiling is the most records per second the Pacer allows now: the API
// key's limit times the process's share.
func (p *Pacer) Ceiling() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ceiling
}
