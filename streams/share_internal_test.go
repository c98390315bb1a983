package streams

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams/embedded"
)

func TestShareOf(t *testing.T) {
	me, other := []byte("connector:me"), []byte("connector:other")
	member := func(tag []byte, assigned map[string][]int) kafka.DescribeGroupsResponseMember {
		var a kafka.DescribeGroupsResponseAssignments
		for topic, ps := range assigned {
			a.Topics = append(a.Topics, kafka.GroupMemberTopic{Topic: topic, Partitions: ps})
		}
		return kafka.DescribeGroupsResponseMember{MemberMetadata: kafka.DescribeGroupsResponseMemberMetadata{UserData: tag}, MemberAssignments: a}
	}
	group := func(state string, members ...kafka.DescribeGroupsResponseMember) kafka.DescribeGroupsResponseGroup {
		return kafka.DescribeGroupsResponseGroup{GroupState: state, Members: members}
	}
	tests := []struct {
		name    string
		g       kafka.DescribeGroupsResponseGroup
		current float64
		want    float64
		owned   int // -1: unknown (nil)
		ok      bool
	}{
		{name: "alone", g: group("Stable", member(me, map[string][]int{"a": {0, 1, 2, 3}})), current: -1, want: 1, owned: 4, ok: true},
		{name: "a third of six", g: group("Stable",
			member(me, map[string][]int{"a": {0, 1}}),
			member(other, map[string][]int{"a": {2, 3}}),
			member([]byte("connector:third"), map[string][]int{"a": {4, 5}})), current: 1, want: 1.0 / 3, owned: 2, ok: true},
		// Partitions count, not members: an uneven split gives uneven shares.
		{name: "uneven", g: group("Stable",
			member(me, map[string][]int{"a": {0, 1, 2}}),
			member(other, map[string][]int{"a": {3}})), current: -1, want: 0.75, owned: 3, ok: true},
		// Two topics of the pipeline count together.
		{name: "two topics", g: group("Stable",
			member(me, map[string][]int{"a": {0}, "b": {0, 1}}),
			member(other, map[string][]int{"a": {1}, "b": {2, 3}})), current: -1, want: 0.5, owned: 3, ok: true},
		// A topic the pipeline does not read (another group's member, or a
		// subscription it dropped) does not count.
		{name: "other topics ignored", g: group("Stable",
			member(me, map[string][]int{"a": {0}, "z": {0, 1, 2}}),
			member(other, map[string][]int{"a": {1}})), current: -1, want: 0.5, owned: 1, ok: true},
		{name: "owning nothing", g: group("Stable",
			member(me, nil),
			member(other, map[string][]int{"a": {0, 1}})), current: 0.5, want: 0, owned: 0, ok: true},
		// During a rebalance no member paces above an even split.
		{name: "rebalancing cuts to an even split", g: group("PreparingRebalance",
			member(me, nil), member(other, nil), member([]byte("connector:new"), nil)), current: 1, want: 1.0 / 3, owned: -1, ok: true},
		{name: "rebalancing keeps a smaller share", g: group("CompletingRebalance",
			member(me, nil), member(other, nil)), current: 0.25, want: 0.25, owned: -1, ok: true},
		{name: "rebalancing, nothing known yet", g: group("PreparingRebalance",
			member(me, nil), member(other, nil)), current: -1, want: 0.5, owned: -1, ok: true},
		// Nothing to learn: not a member (yet), or no group.
		{name: "not a member", g: group("Stable", member(other, map[string][]int{"a": {0}})), current: 0.5, ok: false},
		{name: "empty group", g: group("Empty"), current: 0.5, ok: false},
		{name: "dead group", g: group("Dead"), current: -1, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := shareOf(tt.g, me, []string{"a", "b"}, tt.current)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if s.share != tt.want {
				t.Fatalf("share = %v, want %v", s.share, tt.want)
			}
			switch {
			case tt.owned < 0 && s.owned != nil:
				t.Fatalf("owned = %v, want unknown while rebalancing", s.owned)
			case tt.owned >= 0 && len(s.owned) != tt.owned:
				t.Fatalf("owned = %v, want %d partitions", s.owned, tt.owned)
			}
		})
	}
}

// A pipeline that paces at a share stops asking the coordinator once its
// group settled after its join (well before the rebalance timeout, 30 s
// here: the generation of its join was seen), and asks again when a
// member joins: both then settle at half.
func TestShareWatcherSettlesAndWakesOnJoin(t *testing.T) {
	b, err := embedded.Start(embedded.Config{Partitions: 4, Topics: []string{"in", "dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type member struct {
		p     *Pipeline
		mu    sync.Mutex
		share float64
		told  bool // p.share is set (onShare is called from its goroutine)
	}
	state := func(m *member) (share float64, settled bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.told {
			return -1, false
		}
		return m.share, m.p.share.settled.Load()
	}
	start := func(name string) *member {
		m := &member{}
		p, err := NewPipeline(PipelineConfig{
			Name: name, Brokers: []string{b.Addr()}, GroupID: "g", Topics: []string{"in"}, DeadLetterTopic: "dlq",
			SessionTimeout: 30 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
			OnShare: func(s float64) { m.mu.Lock(); m.share, m.told = s, true; m.mu.Unlock() },
		}, PerRecord(func(context.Context, *Record) error { return nil }))
		if err != nil {
			t.Fatal(err)
		}
		m.p = p
		stop := testkit.Run(t, p.Run)
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Error(err)
			}
		})
		return m
	}
	a := start("a")
	testkit.WaitFor(t, 15*time.Second, "a alone, at the whole share and settled", func() (bool, string) {
		s, settled := state(a)
		return s == 1 && settled, fmt.Sprintf("share %v, settled %v", s, settled)
	})
	c := start("c")
	testkit.WaitFor(t, 15*time.Second, "a and c at half each and settled", func() (bool, string) {
		sa, seta := state(a)
		sc, setc := state(c)
		return sa == 0.5 && sc == 0.5 && seta && setc, fmt.Sprintf("a %v (settled %v), c %v (settled %v)", sa, seta, sc, setc)
	})
}
