package streams

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// HealthPolicy says when a pipeline stops being ready although it runs:
// /readyz is the truth about whether records move, not only whether a
// goroutine is alive.
type HealthPolicy struct {
	// Interval is how often the pipeline asks the brokers for the group's
	// committed offsets and the topics' end offsets (the group's lag, and
	// whether the brokers answer) and checks the thresholds below.
	Interval time.Duration
	// BrokerUnreachableAfter: brokers that have not answered for this long
	// make the pipeline not ready. A refused credential or an untrusted
	// certificate does so at once: waiting will not fix it.
	BrokerUnreachableAfter time.Duration
	// FailingAfter: when every delivery attempt has failed for this long
	// (an API outage), the pipeline is not ready.
	FailingAfter time.Duration
	// StallAfter: a record unfinished for this long (whatever the cause),
	// or fetching waiting this long for commits to free the window of
	// uncommitted records, makes the pipeline not ready.
	StallAfter time.Duration
}

func (h HealthPolicy) withDefaults() HealthPolicy {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&h.Interval, 5*time.Second)
	def(&h.BrokerUnreachableAfter, 30*time.Second)
	def(&h.FailingAfter, time.Minute)
	def(&h.StallAfter, 5*time.Minute)
	return h
}

// health keeps what the thresholds are checked against. Delivery outcomes
// update it with one atomic operation in the common case.
type health struct {
	// failingSince is when the first failed attempt after the last
	// delivery happened (unix nanoseconds), 0 while deliveries succeed.
	failingSince atomic.Int64
	mu           sync.Mutex
	lastErr      error
	// brokerDownSince is when the brokers stopped answering the probe, zero
	// while they answer.
	brokerDownSince time.Time
	// probedAt is when the brokers were last asked, and probedConsumed the
	// records consumed then (probeDue).
	probedAt       time.Time
	probedConsumed int64
	// parts are the pipeline's partitions by topic, from the metadata read
	// at partsAt (groupLag); nil when they must be read again.
	parts   map[string][]int
	partsAt time.Time
}

// idleProbeEvery is how many intervals apart an idle pipeline asks the
// brokers (probeDue).
const idleProbeEvery = 3

// partsTTL is how long groupLag trusts the partitions it read: a partition
// added to a topic counts in the lag within it (kafka-go's reader itself
// reads a new partition only from the next rebalance).
const partsTTL = time.Minute

func (h *health) delivered() {
	if h.failingSince.Load() != 0 {
		h.failingSince.Store(0)
	}
}

func (h *health) failed(err error) {
	h.failingSince.CompareAndSwap(0, time.Now().UnixNano())
	h.mu.Lock()
	h.lastErr = err
	h.mu.Unlock()
}

// healthLoop checks the thresholds every Interval, and probes the brokers
// (probeDue), until ctx ends.
func (p *Pipeline) healthLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.Health.Interval)
	defer t.Stop()
	for {
		p.checkHealth(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (p *Pipeline) checkHealth(ctx context.Context) {
	hp := p.cfg.Health
	now := time.Now()
	if p.probeDue(now) && !p.probeBrokers(ctx, now) {
		return // stopped meanwhile
	}
	// Every attempt failing for long: the destination is down.
	if since := p.h.failingSince.Load(); since != 0 && now.Sub(time.Unix(0, since)) >= hp.FailingAfter {
		p.h.mu.Lock()
		last := p.h.lastErr
		p.h.mu.Unlock()
		if p.ready.Problem("failing", fmt.Sprintf("every delivery attempt failed for %s; last: %v", now.Sub(time.Unix(0, since)).Round(time.Second), last)) {
			p.log.Error("every delivery attempt fails; not ready", "for", now.Sub(time.Unix(0, since)).Round(time.Second), "error", last)
		}
	} else if p.ready.Problem("failing", "") {
		p.log.Info("deliveries succeed again")
	}

	// The oldest unfinished record shows every stall, whatever its cause.
	age, where := p.tracker.oldestUnfinished(now)
	p.m.oldest.WithLabelValues(p.cfg.Name).Set(age.Seconds())
	if age >= hp.StallAfter {
		if p.ready.Problem("stall", fmt.Sprintf("stalled: record %s unfinished for %s", where, age.Round(time.Second))) {
			p.log.Error("a record is unfinished for longer than the stall threshold; not ready", "record", where, "age", age.Round(time.Second), "threshold", hp.StallAfter)
		}
	} else if p.ready.Problem("stall", "") {
		p.log.Info("no record is stalled any more")
	}

	// A window full of finished records that no commit frees is a stall
	// no unfinished record shows: commits fail (the group not authorised,
	// a coordinator that refuses them) or never come. A window held by a
	// stalled record is said above already.
	if since := p.windowFullSince.Load(); since != 0 && now.Sub(time.Unix(0, since)) >= hp.StallAfter && age < hp.StallAfter {
		waited := now.Sub(time.Unix(0, since)).Round(time.Second)
		if p.ready.Problem("window", fmt.Sprintf("stalled: fetching waited %s for a commit to free the window of %d uncommitted records", waited, p.cfg.MaxInFlight)) {
			p.log.Error("fetching waits for commits longer than the stall threshold; not ready", "waited", waited, "max_in_flight", p.cfg.MaxInFlight, "threshold", hp.StallAfter)
		}
	} else if p.ready.Problem("window", "") {
		p.log.Info("commits free the uncommitted window again")
	}
}

// probeDue says whether the brokers are asked this round: every Interval
// while anything moves, every idleProbeEvery intervals for an idle pipeline
// (nothing fetched since the last probe, nothing in flight, no lag then and
// the brokers answering). The probe is most of what an idle pipeline costs
// beside the group's heartbeat; a pipeline with lag, work or a broker
// problem is asked about every Interval.
func (p *Pipeline) probeDue(now time.Time) bool {
	consumed := p.c.consumed.Load()
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	idle := !p.h.probedAt.IsZero() && consumed == p.h.probedConsumed && p.c.inFlight.Load() == 0 &&
		p.c.lag.Load() == 0 && p.h.brokerDownSince.IsZero()
	if idle && now.Sub(p.h.probedAt) < idleProbeEvery*p.cfg.Health.Interval-p.cfg.Health.Interval/2 {
		return false
	}
	p.h.probedAt, p.h.probedConsumed = now, consumed
	return true
}

// probeBrokers asks the brokers for the group's lag (it counts partitions
// this process does not own and records not fetched yet, unlike anything
// local) and says when they do not answer. It reports false when ctx ended
// meanwhile.
func (p *Pipeline) probeBrokers(ctx context.Context, now time.Time) bool {
	hp := p.cfg.Health
	lag, err := p.groupLag(ctx)
	p.h.mu.Lock()
	if err == nil {
		p.h.brokerDownSince = time.Time{}
	} else if p.h.brokerDownSince.IsZero() {
		p.h.brokerDownSince = now
	}
	down := p.h.brokerDownSince
	p.h.mu.Unlock()
	switch {
	case err == nil:
		p.c.lag.Store(lag)
		p.m.lag.WithLabelValues(p.cfg.Name).Set(float64(lag))
		if p.ready.Problem("broker", "") {
			p.log.Info("brokers answer again")
		}
	case ctx.Err() != nil:
		return false
	case isPermanentConnErr(err) || now.Sub(down) >= hp.BrokerUnreachableAfter:
		// Say which broker and why, from a fresh connection per broker:
		// every one when none answers; else the probe's failure and the
		// brokers that do not answer (one node of a cluster dead), or only
		// the failure when each answers (a partition without a leader).
		what, why := "Kafka requests fail", err
		dead := UnreachableBrokers(ctx, p.cfg.Brokers, p.cfg.Security)
		switch {
		case len(dead) == len(p.cfg.Brokers):
			what, why = "Kafka unreachable", errors.Join(dead...)
		case len(dead) > 0:
			what, why = "Kafka partly unreachable", fmt.Errorf("%w; %w", err, errors.Join(dead...))
		}
		failingFor := now.Sub(down).Round(time.Second)
		reason := fmt.Sprintf("%s for %s: %v", what, failingFor, why)
		if isPermanentConnErr(err) {
			// Not a matter of time: a credential or a certificate.
			what = "Kafka rejects the connection"
			reason = fmt.Sprintf("%s: %v", what, why)
		}
		if p.ready.Problem("broker", reason) {
			p.log.Error(what+"; not ready", "for", failingFor, "error", why)
		}
	}
	return true
}

// groupLag asks the brokers for the end offset of every partition of the
// pipeline's topics and the group's committed offsets, and sums the
// difference. A partition the group never committed counts from its first
// offset (start_from earliest) or not at all (latest).
func (p *Pipeline) groupLag(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(p.cfg.Brokers...), Timeout: 5 * time.Second, Transport: p.transport}
	parts, err := p.partitions(ctx, cl)
	if err != nil {
		return 0, err
	}
	lag, err := p.lagOf(ctx, cl, parts)
	if err != nil {
		// Perhaps the partitions changed (a topic deleted, recreated):
		// read them again next time.
		p.h.mu.Lock()
		p.h.parts = nil
		p.h.mu.Unlock()
	}
	return lag, err
}

// partitions are the pipeline's partitions by topic, read from the
// metadata at most every partsTTL.
func (p *Pipeline) partitions(ctx context.Context, cl *kafka.Client) (map[string][]int, error) {
	p.h.mu.Lock()
	parts, at := p.h.parts, p.h.partsAt
	p.h.mu.Unlock()
	if parts != nil && time.Since(at) < partsTTL {
		return parts, nil
	}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: p.cfg.Topics})
	if err != nil {
		return nil, err
	}
	parts = map[string][]int{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, pa := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], pa.ID)
		}
	}
	p.h.mu.Lock()
	p.h.parts, p.h.partsAt = parts, time.Now()
	p.h.mu.Unlock()
	return parts, nil
}

// lagOf sums the lag of the group over parts.
func (p *Pipeline) lagOf(ctx context.Context, cl *kafka.Client, parts map[string][]int) (int64, error) {
	reqs := map[string][]kafka.OffsetRequest{}
	for t, ids := range parts {
		for _, id := range ids {
			reqs[t] = append(reqs[t], kafka.FirstOffsetOf(id), kafka.LastOffsetOf(id))
		}
	}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return 0, err
	}
	committed, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: p.cfg.GroupID, Topics: parts})
	if err != nil {
		return 0, err
	}
	if committed.Error != nil {
		return 0, committed.Error
	}
	done := map[string]map[int]int64{}
	for t, ps := range committed.Topics {
		done[t] = map[int]int64{}
		for _, pa := range ps {
			done[t][pa.Partition] = pa.CommittedOffset
		}
	}
	var lag int64
	for t, ps := range offs.Topics {
		for _, po := range ps {
			if po.Error != nil {
				return 0, fmt.Errorf("%s/%d: %w", t, po.Partition, po.Error)
			}
			c, ok := done[t][po.Partition]
			if !ok || c < 0 {
				if p.cfg.StartFromLatest {
					continue
				}
				c = po.FirstOffset
			}
			lag += max(0, po.LastOffset-c)
		}
	}
	return lag, nil
}

// isPermanentConnErr reports failures that waiting does not fix: a
// credential the brokers refuse, a certificate that is not trusted.
func isPermanentConnErr(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.UnsupportedSASLMechanism) ||
		errors.Is(err, kafka.TopicAuthorizationFailed) || errors.Is(err, kafka.GroupAuthorizationFailed)
}

// brokersAnswer reports whether the last health probe reached the brokers.
func (h *health) brokersAnswer() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.brokerDownSince.IsZero()
}
