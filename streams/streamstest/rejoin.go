package streamstest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// orderedHolder is a Sequential sink that holds what it is given, while
// hold is set, until the test lets go; from then on it delivers at once.
// held is shared by the group's members, so that each Write can tell
// whether another member still holds records.
type orderedHolder struct {
	streams.NopLifecycle
	name string
	g    *groupHolds
}

// groupHolds is what the members of a group hold and were handed.
type groupHolds struct {
	mu   sync.Mutex
	hold map[string]bool         // by member: holds what it is given
	held map[string][]heldRecord // by member: not yet answered
	got  map[string]int          // by member: records handed over
	seen map[int]map[int64]bool  // by partition: offsets handed over
	// early are records handed to a member while another still held
	// records of the same partition: what a stale write needs.
	early []string
}

type heldRecord struct {
	r    *streams.Record
	done streams.Done
}

func (s *orderedHolder) Sequential() bool { return true }

func (s *orderedHolder) Write(_ context.Context, batch []*streams.Record, done streams.Done) {
	g := s.g
	g.mu.Lock()
	for _, r := range batch {
		for other, hs := range g.held {
			for _, h := range hs {
				if other != s.name && h.r.Partition == r.Partition {
					g.early = append(g.early, fmt.Sprintf("%s got partition %d offset %d while %s held offset %d", s.name, r.Partition, r.Offset, other, h.r.Offset))
				}
			}
		}
		g.got[s.name]++
		g.seen[r.Partition][r.Offset] = true
	}
	if g.hold[s.name] {
		for _, r := range batch {
			g.held[s.name] = append(g.held[s.name], heldRecord{r, done})
		}
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	for _, r := range batch {
		done(r, nil)
	}
}

// letGo delivers what member holds and stops it holding.
func (g *groupHolds) letGo(member string) {
	g.mu.Lock()
	hs := g.held[member]
	delete(g.held, member)
	g.hold[member] = false
	g.mu.Unlock()
	for _, h := range hs {
		h.done(h.r, nil)
	}
}

func (g *groupHolds) counts(member string) (held, got, distinct int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, offs := range g.seen {
		distinct += len(offs)
	}
	return len(g.held[member]), g.got[member], distinct
}

// produceKeyed produces n records with keys spread over every partition.
func produceKeyed(t *testing.T, addr, topic string, n int) {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}
	}
	Produce(t, addr, topic, msgs...)
}

// gaugeOf reads a pipeline's gauge from reg.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name, pipeline string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" && l.GetValue() == pipeline {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// CheckFinishBeforeRejoin shows that a member of a Sequential sink's group
// that loses partitions in a rebalance finishes the records it fetched
// before it joins again, and that the group's next generation waits for
// that join: no member is handed a record of a partition while its old
// owner still holds records of it (which could reach the API after newer
// ones and overwrite them). topic has two partitions or more and no
// records; dlq exists.
func CheckFinishBeforeRejoin(t *testing.T, brokers []string, topic, dlq, group string) {
	t.Helper()
	const n = 400
	produceKeyed(t, brokers[0], topic, n)
	g := &groupHolds{hold: map[string]bool{"a": true}, held: map[string][]heldRecord{}, got: map[string]int{},
		seen: map[int]map[int64]bool{0: {}, 1: {}}}
	regA := prometheus.NewRegistry()
	cfg := func(name string, reg *prometheus.Registry) streams.PipelineConfig {
		return streams.PipelineConfig{Name: name, GroupID: group, Brokers: brokers, Topics: []string{topic},
			DeadLetterTopic: dlq, Concurrency: 4, MaxInFlight: 100, BatchMaxRecords: 10, BatchLinger: time.Millisecond,
			CommitInterval: 10 * time.Millisecond, SessionTimeout: 20 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
			Metrics: streams.NewMetrics(reg)}
	}
	_, cancelA, doneA := StartPipeline(t, cfg("a", regA), &orderedHolder{name: "a", g: g})
	WaitFor(t, 30*time.Second, "the first member holds a full window", func() (bool, string) {
		held, _, _ := g.counts("a")
		return held == 100, fmt.Sprintf("%d held", held)
	})

	// A second member joins: the first must finish its records before the
	// group can hand either of them a partition.
	_, cancelB, doneB := StartPipeline(t, cfg("b", prometheus.NewRegistry()), &orderedHolder{name: "b", g: g})
	// Without the wait, the new member is soon handed the records the
	// first one holds.
	WaitFor(t, 30*time.Second, "the first member waiting to rejoin", func() (bool, string) {
		v := gaugeOf(t, regA, "connector_pipeline_rebalance_finishing", "a")
		_, gotB, _ := g.counts("b")
		return v == 1 || gotB > 0, fmt.Sprintf("rebalance_finishing %v", v)
	})
	if _, got, _ := g.counts("b"); got != 0 {
		t.Fatalf("the new member was handed %d records while the old one still held records of the partition", got)
	}
	g.letGo("a")
	WaitFor(t, 30*time.Second, "the first member rejoined", func() (bool, string) {
		v := gaugeOf(t, regA, "connector_pipeline_rebalance_finishing", "a")
		return v == 0, fmt.Sprintf("rebalance_finishing %v", v)
	})
	// Records after the rebalance go to both members.
	produceKeyed(t, brokers[0], topic, n)
	WaitFor(t, 60*time.Second, "every record handed over and committed", func() (bool, string) {
		if _, _, distinct := g.counts("a"); distinct < 2*n {
			return false, fmt.Sprintf("%d of %d records handed over", distinct, 2*n)
		}
		return CaughtUp(t, brokers[0], group, topic)
	})
	_, gotB, _ := g.counts("b")
	cancelA()
	cancelB()
	for _, done := range []<-chan error{doneA, doneB} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.early) > 0 {
		t.Fatalf("%d records were handed to a member while another held records of their partition, first: %s", len(g.early), g.early[0])
	}
	if gotB == 0 {
		t.Fatal("the second member was never handed a record: the test shows nothing")
	}
}
