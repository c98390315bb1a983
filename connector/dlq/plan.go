package dlq

import (
	"cmp"
	"slices"
	"time"
)

// entry is what Replay keeps of a dead letter between the scan and the
// replay: enough to choose it, not the record.
type entry struct {
	offset int64
	at     time.Time
	reason string
	// cannot says why it cannot be replayed ("" when it can).
	cannot string
}

// index is every dead letter of an extent by partition, in offset order.
type index struct {
	parts    map[int][]entry
	byReason map[string]int
}

// positions are the replay positions: reason -> partition -> the offset
// before which every dead letter of the reason was handled. A partition
// missing from a reason's map is not this run's (another member of the
// reason's group holds it).
type positions map[string]map[int]int64

// filter is what a run replays.
type filter struct {
	reasons      []string
	since, until time.Time
	// skipOlder passes over, for good, the dead letters older than since,
	// instead of stopping at the first of them.
	skipOlder bool
}

// Hold is where a run stopped in one partition for one reason, leaving
// that dead letter and the later ones of the reason for a later run.
type Hold struct {
	Reason    string
	Partition int
	Offset    int64
	At        time.Time
	// Why: "newer than -until" or "older than -since".
	Why string
	// Behind is how many later dead letters of the reason wait behind it.
	Behind int
}

// plan is what a run will do: the dead letters to replay and where each
// reason's position ends in each partition.
type plan struct {
	parts map[int]*partPlan
	// total is how many dead letters it replays.
	total int
	// already counts dead letters of the chosen reasons behind the
	// positions: replayed (or passed over) by earlier runs.
	already int
	// cannot counts, by why, dead letters the positions pass over because
	// they cannot be replayed.
	cannot map[string]int
	// passedOver counts dead letters older than since that skipOlder
	// passes over.
	passedOver int
	held       []Hold
}

// partPlan is one partition's part of a plan.
type partPlan struct {
	replay []entry
	// final is each reason's position once the partition is done.
	final map[string]int64
}

// makePlan chooses, in each partition and for each chosen reason, the
// dead letters from the reason's position on, in offset order, up to the
// first one the time filter leaves out: the position never moves past a
// dead letter that was neither replayed nor impossible to replay (or,
// with skipOlder, older than since), so one left out stays for a later
// run and none is replayed twice.
func makePlan(idx index, e extent, pos positions, f filter) *plan {
	pl := &plan{parts: map[int]*partPlan{}, cannot: map[string]int{}}
	for _, p := range e.partitions {
		pp := &partPlan{final: map[string]int64{}}
		held := map[string]*Hold{}
		for _, r := range f.reasons {
			if cur, ok := pos[r][p]; ok {
				pp.final[r] = max(cur, e.end[p])
			}
		}
		for _, en := range idx.parts[p] {
			cur, ok := pos[en.reason][p]
			switch {
			case !ok:
				// Not a chosen reason, or not this run's partition.
			case en.offset < cur:
				pl.already++
			case held[en.reason] != nil:
				held[en.reason].Behind++
			case !f.until.IsZero() && en.at.After(f.until):
				held[en.reason] = &Hold{Reason: en.reason, Partition: p, Offset: en.offset, At: en.at, Why: "newer than -until"}
				pp.final[en.reason] = en.offset
			case !f.since.IsZero() && en.at.Before(f.since) && !f.skipOlder:
				held[en.reason] = &Hold{Reason: en.reason, Partition: p, Offset: en.offset, At: en.at, Why: "older than -since"}
				pp.final[en.reason] = en.offset
			case !f.since.IsZero() && en.at.Before(f.since):
				pl.passedOver++
			case en.cannot != "":
				pl.cannot[en.cannot]++
			default:
				pp.replay = append(pp.replay, en)
				pl.total++
			}
		}
		for _, h := range held {
			pl.held = append(pl.held, *h)
		}
		pl.parts[p] = pp
	}
	slices.SortFunc(pl.held, func(a, b Hold) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Partition, b.Partition))
	})
	return pl
}

// after is where each reason's position in the partition may move once
// every planned dead letter up to offset was replayed: past it, but never
// past where the reason is held.
func (pp *partPlan) after(offset int64) map[string]int64 {
	out := make(map[string]int64, len(pp.final))
	for r, fin := range pp.final {
		out[r] = min(fin, offset+1)
	}
	return out
}
