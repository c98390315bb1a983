package streams

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/segmentio/kafka-go"
)

// stickyBalancer assigns a group's partitions as evenly as kafka-go's range
// balancer does, but leaves each member the partitions it owned before, as
// far as the even split allows (Kafka's StickyAssignor, in its simplest
// form). When a member dies, the survivors keep theirs and share only its
// partitions.
//
// That matters because kafka-go's reader does not say when a rebalance
// took a partition away: a member that lost one goes on delivering what it
// had fetched of it, while the new owner reads the same records again.
// With the range balancer, a member's death moved partitions between the
// survivors too, and a UPS update queued by the old owner could reach the
// API after the newer one the new owner sent, and overwrite it
// (TestScaleOut saw it now and then). The old owner commits nothing of
// such a partition (offsetTracker), so nothing is lost either way; sticky
// assignments make the overlap rare: it remains when a member joins.
//
// Each member sends its tag and what it owns (shareWatcher) as the user
// data of its join; members that do not (another version) get an even
// share of what is left.
type stickyBalancer struct {
	tag   []byte
	owned func() map[topicPartition]bool
	// joining, when set, is told of each join (UserData is asked for
	// every JoinGroup the member sends).
	joining func()
}

// stickyProtocol is the balancer's name in the group protocol; every
// member offers kafka-go's range and round-robin balancers after it, so a
// group of mixed versions still agrees on one.
const stickyProtocol = "connector-sticky-v1"

func (stickyBalancer) ProtocolName() string { return stickyProtocol }

// UserData is the tag, a line break, and the partitions owned by topic as
// JSON.
func (b stickyBalancer) UserData() ([]byte, error) {
	if b.joining != nil {
		b.joining()
	}
	byTopic := map[string][]int{}
	if b.owned != nil {
		for tp := range b.owned() {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
	}
	for _, ps := range byTopic {
		slices.Sort(ps)
	}
	js, err := json.Marshal(byTopic)
	if err != nil {
		return nil, err
	}
	return append(append(bytes.Clone(b.tag), '\n'), js...), nil
}

// memberTag is the tag at the start of a member's user data.
func memberTag(userData []byte) []byte {
	if i := bytes.IndexByte(userData, '\n'); i >= 0 {
		return userData[:i]
	}
	return userData
}

// ownedIn reads what a member said it owns; nothing when it said nothing
// readable.
func ownedIn(userData []byte) map[string][]int {
	i := bytes.IndexByte(userData, '\n')
	if i < 0 {
		return nil
	}
	var byTopic map[string][]int
	if json.Unmarshal(userData[i+1:], &byTopic) != nil {
		return nil
	}
	return byTopic
}

// AssignGroups gives every partition of each topic to exactly one of the
// members that consume the topic, base or base+1 each, keeping what each
// owned where it can; the members that keep the most get the extra ones.
func (stickyBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	prev := map[string]map[string][]int{}
	for _, m := range members {
		out[m.ID] = map[string][]int{}
		prev[m.ID] = ownedIn(m.UserData)
	}
	byTopic := map[string][]int{}
	for _, p := range partitions {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.ID)
	}
	for topic, parts := range byTopic {
		slices.Sort(parts)
		var subs []string
		for _, m := range members {
			if slices.Contains(m.Topics, topic) {
				subs = append(subs, m.ID)
			}
		}
		if len(subs) == 0 {
			continue
		}
		slices.Sort(subs)
		exists := map[int]bool{}
		for _, p := range parts {
			exists[p] = true
		}
		claimed := map[int]bool{}
		kept := map[string][]int{}
		for _, id := range subs {
			for _, p := range prev[id][topic] {
				if exists[p] && !claimed[p] {
					claimed[p] = true
					kept[id] = append(kept[id], p)
				}
			}
			slices.Sort(kept[id])
		}
		// Quotas: base each, one more for the first extra members, those
		// that keep the most (ties by id).
		order := slices.Clone(subs)
		slices.SortStableFunc(order, func(a, b string) int { return len(kept[b]) - len(kept[a]) })
		base, extra := len(parts)/len(subs), len(parts)%len(subs)
		quota := map[string]int{}
		for i, id := range order {
			quota[id] = base
			if i < extra {
				quota[id]++
			}
		}
		var free []int
		for _, id := range subs {
			if len(kept[id]) > quota[id] {
				free = append(free, kept[id][quota[id]:]...)
				kept[id] = kept[id][:quota[id]]
			}
		}
		for _, p := range parts {
			if !claimed[p] {
				free = append(free, p)
			}
		}
		slices.Sort(free)
		for _, id := range subs {
			for len(kept[id]) < quota[id] && len(free) > 0 {
				kept[id] = append(kept[id], free[0])
				free = free[1:]
			}
			if len(kept[id]) > 0 {
				slices.Sort(kept[id])
				out[id][topic] = kept[id]
			}
		}
	}
	return out
}
