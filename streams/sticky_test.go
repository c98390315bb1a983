package streams

import (
	"fmt"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

// member builds a group member that says it owns owned of topic t.
func stickyMember(t *testing.T, id string, owned ...int) kafka.GroupMember {
	t.Helper()
	set := map[topicPartition]bool{}
	for _, p := range owned {
		set[topicPartition{"t", p}] = true
	}
	data, err := stickyBalancer{tag: []byte("tag-" + id), owned: func() map[topicPartition]bool { return set }}.UserData()
	if err != nil {
		t.Fatal(err)
	}
	return kafka.GroupMember{ID: id, Topics: []string{"t"}, UserData: data}
}

func partitionsOf(n int) []kafka.Partition {
	out := make([]kafka.Partition, n)
	for i := range out {
		out[i] = kafka.Partition{Topic: "t", ID: i}
	}
	return out
}

// checkAssignment fails unless every partition has exactly one owner and
// the counts differ by at most one.
func checkAssignment(t *testing.T, a kafka.GroupMemberAssignments, n int) {
	t.Helper()
	owner := map[int]string{}
	lo, hi := n, 0
	for id, topics := range a {
		ps := topics["t"]
		lo, hi = min(lo, len(ps)), max(hi, len(ps))
		for _, p := range ps {
			if prev, ok := owner[p]; ok {
				t.Fatalf("partition %d given to %s and %s: %v", p, prev, id, a)
			}
			owner[p] = id
		}
	}
	if len(owner) != n {
		t.Fatalf("%d of %d partitions assigned: %v", len(owner), n, a)
	}
	if hi-lo > 1 {
		t.Fatalf("uneven: %d to %d partitions a member: %v", lo, hi, a)
	}
}

func TestStickyBalancer(t *testing.T) {
	b := stickyBalancer{}
	t.Run("a new group is split evenly", func(t *testing.T) {
		a := b.AssignGroups([]kafka.GroupMember{stickyMember(t, "a"), stickyMember(t, "b"), stickyMember(t, "c")}, partitionsOf(7))
		checkAssignment(t, a, 7)
	})
	t.Run("when a member dies the survivors keep theirs", func(t *testing.T) {
		a := b.AssignGroups([]kafka.GroupMember{stickyMember(t, "b", 2, 3), stickyMember(t, "c", 4, 5)}, partitionsOf(6))
		checkAssignment(t, a, 6)
		for id, kept := range map[string][]int{"b": {2, 3}, "c": {4, 5}} {
			for _, p := range kept {
				if !slices.Contains(a[id]["t"], p) {
					t.Errorf("%s lost partition %d: %v", id, p, a)
				}
			}
		}
	})
	t.Run("a member that joins takes from the others, who keep the rest", func(t *testing.T) {
		a := b.AssignGroups([]kafka.GroupMember{stickyMember(t, "a", 0, 1, 2), stickyMember(t, "b", 3, 4, 5), stickyMember(t, "c")}, partitionsOf(6))
		checkAssignment(t, a, 6)
		moved := 0
		for _, p := range a["c"]["t"] {
			if p < 3 && !slices.Contains(a["a"]["t"], p) || p >= 3 && !slices.Contains(a["b"]["t"], p) {
				moved++
			}
		}
		if len(a["a"]["t"]) != 2 || len(a["b"]["t"]) != 2 || moved != 2 {
			t.Errorf("want two partitions moved to the new member, the others kept: %v", a)
		}
	})
	t.Run("two members claiming one partition, unknown partitions and garbage", func(t *testing.T) {
		garbage := kafka.GroupMember{ID: "d", Topics: []string{"t"}, UserData: []byte("tag-d\n{not json")}
		other := kafka.GroupMember{ID: "e", Topics: []string{"t"}, UserData: []byte("an older version's tag")}
		a := b.AssignGroups([]kafka.GroupMember{stickyMember(t, "a", 0, 1, 9), stickyMember(t, "b", 1, 2), garbage, other}, partitionsOf(5))
		checkAssignment(t, a, 5)
	})
	t.Run("many shapes", func(t *testing.T) {
		for n := 1; n <= 12; n++ {
			for m := 1; m <= 5; m++ {
				var members []kafka.GroupMember
				for i := range m {
					var owned []int
					for p := i; p < n+2; p += m + 1 { // overlapping, partly stale claims
						owned = append(owned, p)
					}
					members = append(members, stickyMember(t, fmt.Sprintf("m%d", i), owned...))
				}
				checkAssignment(t, b.AssignGroups(members, partitionsOf(n)), n)
			}
		}
	})
}

// The share watcher finds its member by the tag before the sticky data.
func TestMemberTag(t *testing.T) {
	data, _ := stickyBalancer{tag: []byte("connector:ab"), owned: func() map[topicPartition]bool { return map[topicPartition]bool{{"t", 1}: true} }}.UserData()
	if string(memberTag(data)) != "connector:ab" || string(memberTag([]byte("connector:ab"))) != "connector:ab" {
		t.Fatalf("tag of %q: %q", data, memberTag(data))
	}
	if got := ownedIn(data); !slices.Equal(got["t"], []int{1}) {
		t.Fatalf("owned in %q: %v", data, got)
	}
}
