package streams_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// An idle member's fetches wait long at the broker (10 s), but a member
// joining is assigned its partitions within a few heartbeats: the idle
// member's rebalance does not wait for its fetches in flight.
func TestRebalanceDoesNotWaitForIdleFetches(t *testing.T) {
	addr := streamstest.Broker(t, 4, "in", "dlq")
	start := func(name string, delivered *atomic.Int64) {
		p, err := streams.NewPipeline(streams.PipelineConfig{
			Name: name, Brokers: []string{addr}, GroupID: "idle", Topics: []string{"in"}, DeadLetterTopic: "dlq",
			SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, CommitInterval: 20 * time.Millisecond,
		}, streams.PerRecord(func(context.Context, *streams.Record) error { delivered.Add(1); return nil }))
		if err != nil {
			t.Fatal(err)
		}
		stop := testkit.Run(t, p.Run)
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Error(err)
			}
		})
	}
	var a, b atomic.Int64
	start("a", &a)
	// A record in every partition: each fetch loop of a has just begun a
	// fetch that waits its whole time at the broker.
	var msgs []kafka.Message
	for i := range 40 {
		msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte("v")})
	}
	streamstest.Produce(t, addr, "in", msgs...)
	streamstest.WaitFor(t, 30*time.Second, "a delivering every record", func() (bool, string) {
		return a.Load() == int64(len(msgs)), fmt.Sprint(a.Load())
	})
	for p, end := range streamstest.EndOffsets(t, addr, "in") {
		if end == 0 {
			t.Fatalf("no record went to partition %d: the test needs one in each", p)
		}
	}

	t0 := time.Now()
	start("b", &b)
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	streamstest.WaitFor(t, 30*time.Second, "both members assigned partitions", func() (bool, string) {
		res, err := cl.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{"idle"}})
		if err != nil || len(res.Groups) != 1 {
			return false, fmt.Sprint(err)
		}
		g := res.Groups[0]
		assigned := 0
		for _, m := range g.Members {
			if len(m.MemberAssignments.Topics) > 0 {
				assigned++
			}
		}
		return g.GroupState == "Stable" && assigned == 2, fmt.Sprintf("%s, %d of %d members assigned", g.GroupState, assigned, len(g.Members))
	})
	// Waiting for a's fetches would take 9 s; the join itself a few
	// heartbeats of 200 ms and a round of JoinGroup and SyncGroup.
	if took := time.Since(t0); took > 5*time.Second {
		t.Fatalf("the rebalance took %s: it waited for the idle member's fetches", took)
	} else {
		t.Logf("rebalance took %s", took.Round(time.Millisecond))
	}
}
