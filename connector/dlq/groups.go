package dlq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// ErrRunning is returned by Replay, before it replays anything, when a
// replay group of its reasons has members: another run is replaying them.
var ErrRunning = errors.New("another replay of these dead letters is running")

// ErrFenced is returned by Replay when its generation of a replay group
// ended before the run did (another run joined in the instant between the
// check for ErrRunning and the join): its positions may no longer be
// committed, so it stops. The batch it had just replayed, if any, will be
// replayed again.
var ErrFenced = errors.New("another replay of the same dead letters joined the replay group")

// ReplayGroup is the consumer group that keeps the replay position of
// sink's dead letters of reason: its committed offset in a partition of
// the dead-letter topic is the offset before which every dead letter of
// that reason was replayed (or passed over: see Replay).
func ReplayGroup(sink, reason string) string { return "connector-dlq-replay-" + sink + "-" + reason }

// fetchPositions reads the replay positions without joining the groups
// (a dry run must not fence a running replay).
func (t Topic) fetchPositions(ctx context.Context, e extent, reasons []string) (positions, error) {
	cl := t.client()
	pos := positions{}
	for _, reason := range reasons {
		resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: ReplayGroup(t.Sink, reason), Topics: map[string][]int{t.Name: e.partitions}})
		if err == nil {
			err = resp.Error
		}
		pos[reason] = map[int]int64{}
		for _, p := range e.partitions {
			pos[reason][p] = e.start[p]
		}
		if errors.Is(err, kafka.GroupIdNotFound) {
			continue // never replayed: from the start (Kafka says so with -1 offsets, kfake with this)
		}
		if err != nil {
			return nil, fmt.Errorf("replay position of %s (group %s): %w", reason, ReplayGroup(t.Sink, reason), err)
		}
		for _, po := range resp.Topics[t.Name] {
			if po.Error != nil {
				return nil, fmt.Errorf("replay position of %s in %s/%d: %w", reason, t.Name, po.Partition, po.Error)
			}
			pos[reason][po.Partition] = max(po.CommittedOffset, e.start[po.Partition])
		}
	}
	return pos, nil
}

// replayGroups are the joined groups of a run, one per reason.
type replayGroups struct {
	stop   chan struct{}
	groups map[string]*kafka.ConsumerGroup
	gens   map[string]*kafka.Generation
	mu     sync.Mutex
}

// joinGroups joins each reason's group and reads the positions of the
// partitions it is given. When a generation ends before the run does
// (another run joined), fenced cancels the run.
func (t Topic) joinGroups(ctx context.Context, e extent, reasons []string, fenced context.CancelCauseFunc) (*replayGroups, positions, error) {
	// A second run joining would end the first one's generation (and its
	// leaving, the second one's): one running is told so instead.
	ids := make([]string, len(reasons))
	for i, r := range reasons {
		ids[i] = ReplayGroup(t.Sink, r)
	}
	desc, err := t.client().DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: ids})
	if err != nil {
		return nil, nil, fmt.Errorf("describe replay groups %v: %w", ids, err)
	}
	for _, dg := range desc.Groups {
		if dg.Error != nil && !errors.Is(dg.Error, kafka.GroupIdNotFound) {
			return nil, nil, fmt.Errorf("describe replay group %s: %w", dg.GroupID, dg.Error)
		}
		if len(dg.Members) > 0 {
			m := dg.Members[0]
			return nil, nil, fmt.Errorf("%w: group %s has %d members (%s on %s)", ErrRunning, dg.GroupID, len(dg.Members), m.ClientID, m.ClientHost)
		}
	}
	g := &replayGroups{stop: make(chan struct{}), groups: map[string]*kafka.ConsumerGroup{}, gens: map[string]*kafka.Generation{}}
	var eg errgroup.Group
	for _, reason := range reasons {
		cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID: ReplayGroup(t.Sink, reason), Brokers: t.Brokers, Dialer: t.Security.Dialer(), Topics: []string{t.Name},
			StartOffset: kafka.FirstOffset, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
		})
		if err != nil {
			g.close()
			return nil, nil, fmt.Errorf("replay group %s: %w", ReplayGroup(t.Sink, reason), err)
		}
		g.groups[reason] = cg
		eg.Go(func() error {
			gen, err := cg.Next(ctx)
			if err != nil {
				return fmt.Errorf("join replay group %s: %w", ReplayGroup(t.Sink, reason), err)
			}
			g.mu.Lock()
			g.gens[reason] = gen
			g.mu.Unlock()
			gen.Start(func(gctx context.Context) {
				select {
				case <-gctx.Done():
					fenced(fmt.Errorf("%w %s", ErrFenced, ReplayGroup(t.Sink, reason)))
				case <-g.stop:
				}
			})
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		g.close()
		return nil, nil, err
	}
	pos := positions{}
	for reason, gen := range g.gens {
		pos[reason] = map[int]int64{}
		for _, a := range gen.Assignments[t.Name] {
			pos[reason][a.ID] = max(a.Offset, e.start[a.ID])
		}
	}
	return g, pos, nil
}

func (g *replayGroups) commit(reason, topic string, p int, off int64) error {
	return g.gens[reason].CommitOffsets(map[string]map[int]int64{topic: {p: off}})
}

// close leaves every group.
func (g *replayGroups) close() {
	close(g.stop)
	for _, cg := range g.groups {
		_ = cg.Close()
	}
}
