package service

import "sync"

// Several connector processes with one config share each pipeline's
// partitions through its consumer group, but an API's rate limit covers
// them all: the workspace's maxRequestsPerMinute, the UPS API key's updates
// per second. Each process paces an API at its share of the limit.
//
// A pipeline knows its share of its group (streams.PipelineConfig.OnShare).
// An API's share in a process is the mean of the shares of the pipelines
// that spend its limit (its events sinks; its ups sinks): every replica
// runs the same pipelines, and each pipeline's shares sum to one over the
// replicas, so the means do too. The mean is conservative when the
// pipelines' loads differ: a replica owning the busy pipeline's partitions
// gets no more than its mean. A pipeline that has not learnt its share yet
// does not count; before any has, the API's share is 1, as for a process
// alone (a pipeline learns its share before its first record reaches the
// API).

// limitShare is one rate-limited API's share for this process.
type limitShare struct {
	mu     sync.Mutex
	shares map[string]float64 // by pipeline, once known
	set    func(share float64)
}

// report takes a pipeline's new share and sets the API's.
func (l *limitShare) report(pipeline string, share float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shares[pipeline] = share
	sum := 0.0
	for _, s := range l.shares {
		sum += s
	}
	l.set(sum / float64(len(l.shares)))
}

// shareLimit makes the sink's pipeline spend its share of the rate limit of
// the API of section (contacthubSection or upsSection): its builder calls
// it, and PipelineConfig hands the pipeline the hook.
func (d *Deps) shareLimit(pipeline, section string) {
	d.sharesMu.Lock()
	defer d.sharesMu.Unlock()
	if d.limitShares == nil {
		d.limitShares = map[string]*limitShare{}
		d.onShare = map[string]func(float64){}
	}
	l := d.limitShares[section]
	if l == nil {
		l = &limitShare{shares: map[string]float64{}}
		switch section {
		case contacthubSection:
			l.set = d.Contacthub().SetShare
		case upsSection:
			l.set = d.UPS().Pacer().SetShare
		default:
			panic("service: no rate limit to share for section " + section)
		}
		d.limitShares[section] = l
	}
	d.onShare[pipeline] = func(s float64) { l.report(pipeline, s) }
}

// shareHook is the OnShare of the sink's pipeline; nil when its API has no
// limit to share.
func (d *Deps) shareHook(pipeline string) func(float64) {
	d.sharesMu.Lock()
	defer d.sharesMu.Unlock()
	return d.onShare[pipeline]
}
