package streams

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Several processes run with one config share each pipeline's work
// through its consumer group, but an API's rate limit covers all of them:
// the workspace's maxRequestsPerMinute, the UPS API key's updates per
// second. So each process paces at its share of the limit, the share of
// the group's partitions it owns (PipelineConfig.OnShare); the shares of
// the members sum to one.
//
// kafka-go's Reader says neither which member of the group it is nor what
// it was assigned. The pipeline tags its member: the group balancers it
// offers send a random tag as their user data, which the coordinator
// keeps with the member's metadata. DescribeGroups then lists every member
// with its metadata and assignment, so the pipeline finds itself by its
// tag and counts its partitions against all the group assigned. Counting
// what the coordinator assigned, rather than what was fetched lately,
// keeps a partition with no traffic in the count: its owner would send at
// once if records came.
//
// When the share is read:
//   - before a record of a partition the pipeline did not know it owned is
//     handed on (its share has grown, or it just joined): the record waits
//     for the answer, so a member never sends at a share it does not have;
//   - at once when the member joins the group (kafka-go asks its balancers
//     for their user data to send JoinGroup): a rebalance is starting,
//     and the member's share drops to at most an even split, while the
//     rebalance, which waits for this member's JoinGroup, hands nothing
//     to anyone;
//   - at once after the reader joined a new generation;
//   - every second from the member's join until the group is stable with
//     the member in it, as of the generation of that join (an answer
//     asked earlier may reach the coordinator before the JoinGroup and
//     describe the generation before; when the join's generation is not
//     seen to begin, an answer asked a rebalance timeout after the join
//     counts instead);
//   - never otherwise: an assignment changes only in a new generation,
//     which every member joins (one the group evicted joins again when its
//     heartbeat is refused, and a member learns of a rebalance at its next
//     heartbeat, as it did within the second it asked before). A settled
//     idle pipeline asks the coordinator nothing.
//
// While the group rebalances, a member's share is at most one over the
// members listed, whatever it owned before: no member then paces at more
// than an even split, and the new assignment sets the shares when it is
// done.

const (
	// shareRefreshInterval is how often the share is read until the group
	// settled after the member's join.
	shareRefreshInterval = time.Second
	// rebalanceCheckInterval is how often the reader is asked whether it
	// joined a new generation: a local question, without a request.
	rebalanceCheckInterval = 100 * time.Millisecond
	// shareQuestionTimeout bounds one DescribeGroups round trip.
	shareQuestionTimeout = 5 * time.Second
	// firstShareWait bounds how long the first record waits for the first
	// share when the coordinator cannot tell it yet.
	firstShareWait = 5 * time.Second
)

// taggedBalancer offers kafka-go's balancer with the member's tag as its
// user data, which the coordinator hands back in DescribeGroups.
type taggedBalancer struct {
	kafka.GroupBalancer
	tag []byte
}

// UserData implements kafka.GroupBalancer.
func (b taggedBalancer) UserData() ([]byte, error) { return b.tag, nil }

// taggedBalancers are the sticky balancer, then kafka-go's default
// balancers in its order, all tagged; owned says what the member owns now
// (the sticky balancer sends it with the tag), and joining is called at
// each join of the member (the sticky balancer's user data is asked for
// every JoinGroup, whichever balancer the group then agrees on).
func taggedBalancers(tag []byte, owned func() map[topicPartition]bool, joining func()) []kafka.GroupBalancer {
	return []kafka.GroupBalancer{
		stickyBalancer{tag: tag, owned: owned, joining: joining},
		taggedBalancer{kafka.RangeGroupBalancer{}, tag},
		taggedBalancer{kafka.RoundRobinGroupBalancer{}, tag},
	}
}

func newMemberTag() []byte {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails on supported platforms
	return []byte("connector:" + hex.EncodeToString(b))
}

// groupShare is what DescribeGroups says of a member's part of the group.
type groupShare struct {
	share float64
	// owned are the partitions assigned to the member; nil when the group
	// is rebalancing (the old assignment no longer holds).
	owned map[topicPartition]bool
}

// shareOf reads the member tagged tag's share of the group's partitions
// of topics from a DescribeGroups answer; current is its share now (<0:
// none yet). ok is false when the answer says nothing new (the member is
// not in the group, or the group is empty or dead).
func shareOf(g kafka.DescribeGroupsResponseGroup, tag []byte, topics []string, current float64) (s groupShare, ok bool) {
	wanted := map[string]bool{}
	for _, t := range topics {
		wanted[t] = true
	}
	var mine map[topicPartition]bool
	total, found := 0, false
	for _, m := range g.Members {
		self := bytes.Equal(memberTag(m.MemberMetadata.UserData), tag)
		if self {
			found = true
			mine = map[topicPartition]bool{}
		}
		for _, a := range m.MemberAssignments.Topics {
			if !wanted[a.Topic] {
				continue
			}
			total += len(a.Partitions)
			if self {
				for _, p := range a.Partitions {
					mine[topicPartition{a.Topic, p}] = true
				}
			}
		}
	}
	switch g.GroupState {
	case "Stable":
		if !found || total == 0 {
			return s, false
		}
		return groupShare{share: float64(len(mine)) / float64(total), owned: mine}, true
	case "PreparingRebalance", "CompletingRebalance":
		if len(g.Members) == 0 {
			return s, false
		}
		even := 1 / float64(len(g.Members))
		if current >= 0 && current < even {
			even = current
		}
		return groupShare{share: even}, true
	}
	return s, false
}

// shareWatcher keeps a pipeline's share of its group current and tells
// onShare when it changes.
type shareWatcher struct {
	group   string
	topics  []string
	tag     []byte
	client  *kafka.Client
	onShare func(float64)
	gauge   interface{ Set(float64) }
	log     *slog.Logger

	// owned are the partitions the pipeline knows it owns: the last
	// assignment read, and those it fetched since (so that a partition is
	// asked about once, even when the answer does not list it yet).
	owned atomic.Pointer[map[topicPartition]bool]

	// joins counts the member's joins (JoinGroup requests); joined is
	// signalled at each.
	joins  atomic.Int64
	joined chan struct{}
	// settle is how long after a join an answer may describe the
	// generation before it: the reader's rebalance timeout, and a refresh.
	settle time.Duration
	// settled is set while run waits for a join, asking nothing.
	settled atomic.Bool
	// waitedFirst is set once a record waited for the first share (learn).
	waitedFirst atomic.Bool

	mu    sync.Mutex // one question at a time; guards share
	share float64    // last told; <0 none yet
}

func newShareWatcher(p *Pipeline, tag []byte) *shareWatcher {
	w := &shareWatcher{
		group:   p.cfg.GroupID,
		topics:  p.cfg.Topics,
		tag:     tag,
		client:  &kafka.Client{Addr: kafka.TCP(p.cfg.Brokers...), Timeout: shareQuestionTimeout, Transport: p.transport},
		onShare: p.cfg.OnShare,
		gauge:   p.m.share.WithLabelValues(p.cfg.Name),
		log:     p.log,
		joined:  make(chan struct{}, 1),
		settle:  p.cfg.SessionTimeout + shareRefreshInterval, // the reader's RebalanceTimeout is its SessionTimeout
		share:   -1,
	}
	w.owned.Store(&map[topicPartition]bool{})
	return w
}

// joining is called as the member is about to send JoinGroup.
func (w *shareWatcher) joining() {
	w.joins.Add(1)
	signal(w.joined)
}

// ownedNow is what the pipeline knows it owns.
func (w *shareWatcher) ownedNow() map[topicPartition]bool { return *w.owned.Load() }

// owns reports whether the pipeline knows it owns the partition.
func (w *shareWatcher) owns(topic string, partition int) bool {
	return (*w.owned.Load())[topicPartition{topic, partition}]
}

// learn is called before a record of a partition the pipeline did not know
// it owned is handed on: it reads the share again, and remembers the
// partition as owned whatever the answer. While no share is known yet (a
// member that just joined may not be listed, or the coordinator not ready
// to answer), it asks again, for up to firstShareWait, once per pipeline:
// the first record waits for the first share.
func (w *shareWatcher) learn(ctx context.Context, topic string, partition int) {
	w.update(ctx)
	if !w.waitedFirst.Swap(true) {
		// Once per pipeline: a coordinator that never tells (no right to
		// describe the group) must not hold each new partition 5 s.
		for delay, waited := 20*time.Millisecond, time.Duration(0); !w.knows() && waited < firstShareWait && ctx.Err() == nil; delay = min(2*delay, time.Second) {
			_ = Sleep(ctx, delay)
			waited += delay
			w.update(ctx)
		}
		if !w.knows() && ctx.Err() == nil {
			w.log.Warn("the group's coordinator does not tell this member's share of its partitions; pacing as if alone until it does", "group", w.group, "waited", firstShareWait)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old := *w.owned.Load()
	if old[topicPartition{topic, partition}] {
		return
	}
	next := make(map[topicPartition]bool, len(old)+1)
	for k := range old {
		next[k] = true
	}
	next[topicPartition{topic, partition}] = true
	w.owned.Store(&next)
}

// update asks the coordinator for the group and applies the share. It
// reports whether the group was stable with the member in it.
func (w *shareWatcher) update(ctx context.Context) (stable bool) {
	ctx, cancel := context.WithTimeout(ctx, shareQuestionTimeout)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	res, err := w.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{w.group}})
	if err == nil && len(res.Groups) != 1 {
		err = fmt.Errorf("%d groups in the answer", len(res.Groups))
	}
	if err == nil {
		err = res.Groups[0].Error
	}
	if err != nil {
		w.log.Debug("reading the group's assignment failed; the share stays", "group", w.group, "share", w.share, "error", err)
		return false
	}
	s, ok := shareOf(res.Groups[0], w.tag, w.topics, w.share)
	if !ok {
		return false
	}
	if s.share != w.share {
		// Rare (a rebalance), and what an operator of replicas wants to see.
		w.log.Info("share of the group's partitions", "share", s.share, "was", w.share, "partitions", len(s.owned), "group_state", res.Groups[0].GroupState)
		w.share = s.share
		w.gauge.Set(s.share)
		if w.onShare != nil {
			w.onShare(s.share)
		}
	}
	// The partitions are published once the sink paces at their share: a
	// record of one passes owns only then.
	if s.owned != nil {
		w.owned.Store(&s.owned)
	}
	return s.owned != nil
}

// knows reports whether a share was told.
func (w *shareWatcher) knows() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.share >= 0
}

// run keeps the share current until ctx ends: from each join of the
// member until the group settled, it asks at once, after each new
// generation and every second; then it waits for the next join.
func (w *shareWatcher) run(ctx context.Context, stats *readerStats) {
	check := time.NewTicker(rebalanceCheckInterval)
	defer check.Stop()
	var (
		joins    int64     // the joins seen
		joinedAt time.Time // when the last of them was seen
		last     time.Time // when the group was last asked about
		// polled is the count of joins read before the last look at
		// the rebalances (0 at the reader's start, which is when they
		// began counting); genOf is the last join whose generation is
		// known to have begun.
		polled, genOf int64
		// rebalances is the reader's count at the last look.
		rebalances int64
	)
	for {
		j := w.joins.Load()
		if j != joins {
			joins, joinedAt, last = j, time.Now(), time.Time{}
		}
		// The rebalances counted since the last look are the generations
		// begun, and the partition readers of the generation in force
		// count their leader changes too. kafka-go joins (more than once when
		// a JoinGroup fails), then begins that join's generation, and
		// only then may join again. So a count after the last join was
		// seen is of its generation or a later one; and one after no join
		// was seen is of the first join's.
		_, n := stats.read()
		gen := n > rebalances
		rebalances = n
		if gen && (j == polled || polled == 0 && j == 1) {
			genOf = j
		}
		polled = j
		if gen || time.Since(last) >= shareRefreshInterval {
			last = time.Now()
			if w.update(ctx) && w.joins.Load() == j && (genOf == j || last.Sub(joinedAt) >= w.settle) {
				// Settled: the share changes only after another join.
				check.Stop()
				w.settled.Store(true)
				select {
				case <-w.joined:
				case <-ctx.Done():
					return
				}
				w.settled.Store(false)
				check.Reset(rebalanceCheckInterval)
				continue
			}
		}
		select {
		case <-check.C:
		case <-w.joined:
		case <-ctx.Done():
			return
		}
	}
}
