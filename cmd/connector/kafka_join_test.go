package main_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/streams/streamstest"
)

// Connectors killed with SIGKILL while they join their group, one after
// another, on real Apache Kafka: each new process joins a group that still
// holds the members killed before it, so its JoinGroup waits (up to their
// session timeout) and the kill lands in the rebalance. Kafka expires the
// dead members, the last process gets every partition, and nothing is lost.
// (kfake, the embedded broker of the chaos suite, never expires a member
// killed there, so TestChaosSIGKILLLoop kills only after a join.)
func TestKillWhileJoiningOnKafka(t *testing.T) {
	c, bin, sb := onKafka(t, withLatency(3*time.Millisecond))
	events := replicatedTopic(t, c, "web.events", 4)
	group := kafkatest.UniqueName(t, "group")
	const maxInFlight, kills = 300, 4
	cfg := writeConfigFile(t, replicatedKafka(c.Bootstrap()), fmt.Sprintf(`%ssinks:
  - name: events
    type: contacthub-events
    topics: [%s]
    group_id: %s
    dead_letter_topic: %s
    concurrency: 16
    max_in_flight: %d
`, sandbox.ContacthubSection(sb.URL()), events, group, kafkatest.UniqueName(t, "dlq"), maxInFlight))

	load := newEventLoad(31)
	streamstest.Produce(t, c.Bootstrap()[0], events, load.next(3000)...)

	cl := &kafka.Client{Addr: kafka.TCP(c.Bootstrap()...), Timeout: 5 * time.Second}
	groupState := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(res.Groups) != 1 {
			return fmt.Sprintf("unknown (%v)", err)
		}
		return fmt.Sprintf("%s with %d members", res.Groups[0].GroupState, len(res.Groups[0].Members))
	}
	var states []string
	for i := range kills {
		p := start(t, bin, "run", "-config", cfg)
		// Killed as soon as the group rebalances (its JoinGroup arrived),
		// or once it fetched records if the rebalance passed unseen.
		var at string
		streamstest.WaitFor(t, 60*time.Second, fmt.Sprintf("connector %d joining the group", i+1), func() (bool, string) {
			at = groupState()
			c, _ := p.status("events")
			return rebalancing(at) || c.Consumed > 0, at
		})
		p.kill(t)
		states = append(states, at)
	}
	t.Logf("the group at each kill: %q", states)
	if !slices.ContainsFunc(states, rebalancing) {
		t.Fatalf("no kill landed while the group rebalanced (%q): the test shows nothing", states)
	}

	final := start(t, bin, "run", "-config", cfg)
	streamstest.WaitFor(t, 2*time.Minute, "the group to commit every record after the kills", func() (bool, string) {
		return streamstest.CaughtUp(t, c.Bootstrap()[0], group, events)
	})
	final.stop(t)
	got := load.count(sb)
	t.Logf("%d kills while joining: %s", kills, got)
	if got.lost > 0 {
		t.Fatalf("%d events lost across %d kills while joining", got.lost, kills)
	}
	if bound := kills * maxInFlight; got.duplicates > bound {
		t.Fatalf("%d duplicates over %d kills; each kill may repeat at most max_in_flight (%d): %d", got.duplicates, kills, maxInFlight, bound)
	}
}

// rebalancing says whether a group state (groupState) is a rebalance.
func rebalancing(state string) bool {
	return strings.HasPrefix(state, "PreparingRebalance") || strings.HasPrefix(state, "CompletingRebalance")
}
