package streams

import (
	"math/rand/v2"
	"testing"
)

func TestTrackerCommitsOnlyContiguousPrefix(t *testing.T) {
	tr := newOffsetTracker()
	tks := addOffsets(tr, 10, 20, 20)
	// Finishing out of order must not move the commit past an unfinished offset.
	tr.done(tks[3])
	tr.done(tks[1])
	if got := tr.pending(); len(got) != 0 {
		t.Fatalf("nothing contiguous is finished yet, got %v", got)
	}
	tr.done(tks[0])
	assertCommit(t, tr, 12) // 10 and 11 done, 12 not
	tr.done(tks[2])
	assertCommit(t, tr, 14)
	if lag := tr.lag(); lag != 0 { // nothing committed to Kafka yet: lag unknown, reported 0
		t.Fatalf("lag %d", lag)
	}
	tr.markCommitted(tr.pending())
	if lag := tr.lag(); lag != 6 {
		t.Fatalf("lag = %d, want 6", lag)
	}
}

// A partition that comes back after a rebalance is re-read from the committed
// offset: the commit must never move backwards, and the old window's late
// completions must still count.
func TestTrackerRefetchNeverMovesCommitBack(t *testing.T) {
	tr := newOffsetTracker()
	a := tr.add("t", 0, 0, 10)
	b := tr.add("t", 0, 1, 10)
	tr.done(a)
	tr.done(b)
	assertCommit(t, tr, 2)
	tr.markCommitted(tr.pending())
	// Re-fetch from 1 (what a lagging group commit would give).
	c := tr.add("t", 0, 1, 10)
	tr.done(c)
	if got := tr.pending(); len(got) != 0 {
		t.Fatalf("commit moved back: %v", got)
	}
	d := tr.add("t", 0, 2, 10)
	tr.done(d)
	assertCommit(t, tr, 3)
}

// A partition read again after a rebalance: the records of the old window
// that finish afterwards must not move the commit past records of the new
// window that are not finished. A sink that acknowledges a record as
// replaced by its copy read again (the UPS sink coalesces a user's updates
// so) finishes the old record while the copy waits to be sent; committing
// the old window's prefix then lost the copy when the process died before
// sending it (TestScaleOut, real Kafka).
func TestTrackerOldWindowNeverCommitsPastTheNewOne(t *testing.T) {
	tr := newOffsetTracker()
	old := addOffsets(tr, 0, 6, 10)
	tr.done(old[0])
	tr.done(old[1])
	assertCommit(t, tr, 2)
	tr.markCommitted(tr.pending())
	// The rejoin re-reads from the committed 2.
	again := addOffsets(tr, 2, 6, 10)
	released := int64(0)
	for _, tk := range old[2:] {
		released += tr.done(tk) // replaced by their copies, which wait
	}
	if got := tr.pending(); len(got) != 0 {
		t.Fatalf("the old window committed %v past copies not yet sent", got)
	}
	if released != 4 {
		t.Fatalf("the old window's 4 finished records: %d released, want 4 (the new window counts them again)", released)
	}
	tr.done(again[0])
	assertCommit(t, tr, 3)
	for _, tk := range again[1:] {
		tr.done(tk)
	}
	assertCommit(t, tr, 6)
}

// Random completion order over many offsets with gaps (compacted topics skip
// offsets): the commit always equals one past the largest offset whose
// predecessors are all done.
func TestTrackerRandomOrderWithGaps(t *testing.T) {
	tr := newOffsetTracker()
	var offs []int64
	var tks []ticket
	for off := int64(0); len(offs) < 5000; off += 1 + int64(rand.IntN(3)) {
		offs = append(offs, off)
		tks = append(tks, tr.add("t", 3, off, 1<<40))
	}
	done := make([]bool, len(offs))
	perm := rand.Perm(len(offs))
	for n, i := range perm {
		tr.done(tks[i])
		done[i] = true
		if n%97 == 0 || n == len(perm)-1 {
			want := int64(-1)
			for j := range done {
				if !done[j] {
					break
				}
				want = offs[j] + 1
			}
			got := int64(-1)
			for _, p := range tr.pending() {
				got = p.offset
			}
			if want != -1 && got != want && !(got == -1) {
				t.Fatalf("after %d completions: commit %d, want %d", n+1, got, want)
			}
			tr.markCommitted(tr.pending())
		}
	}
	tr.parts[topicPartition{"t", 3}].committed = -2
	assertCommit(t, tr, offs[len(offs)-1]+1)
}

// addOffsets adds the offsets from up to to of partition 0 of topic "t",
// whose high watermark is hw, and returns their tickets in order.
func addOffsets(tr *offsetTracker, from, to, hw int64) []ticket {
	var tks []ticket
	for off := from; off < to; off++ {
		tks = append(tks, tr.add("t", 0, off, hw))
	}
	return tks
}

func assertCommit(t *testing.T, tr *offsetTracker, want int64) {
	t.Helper()
	p := tr.pending()
	if len(p) != 1 || p[0].offset != want {
		t.Fatalf("pending commits %v, want offset %d", p, want)
	}
}

// Records read again below the committed offset (a rejoin after a commit
// outage) are reported when their prefix passes them: no commit would ever
// release them from the uncommitted window. Those at or above it are
// released by the next commit, as usual.
func TestTrackerRereadBelowCommittedIsReleasedAtOnce(t *testing.T) {
	tr := newOffsetTracker()
	for off := int64(0); off < 4; off++ {
		if n := tr.done(tr.add("t", 0, off, 10)); n != 0 {
			t.Fatalf("offset %d: %d reported committed before any commit", off, n)
		}
	}
	if n := tr.markCommitted(tr.pending()); n != 4 {
		t.Fatalf("the commit released %d, want 4", n)
	}
	two, three, four := tr.add("t", 0, 2, 10), tr.add("t", 0, 3, 10), tr.add("t", 0, 4, 10)
	if n := tr.done(three); n != 0 {
		t.Fatalf("3 finished before 2: %d reported, want 0 (the prefix did not move)", n)
	}
	if n := tr.done(two); n != 2 {
		t.Fatalf("2 and 3 read again below the committed 4: %d reported, want 2", n)
	}
	if n := tr.done(four); n != 0 {
		t.Fatalf("4 is not committed yet: %d reported", n)
	}
	assertCommit(t, tr, 5)
	if n := tr.markCommitted(tr.pending()); n != 1 {
		t.Fatalf("the commit of 5 released %d, want 1", n)
	}
}
