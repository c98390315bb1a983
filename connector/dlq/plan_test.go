package dlq

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestMakePlan(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	const ex, inv = "retries_exhausted", "invalid"
	// Partition 0 of a dead-letter topic, one dead letter a minute; the one
	// at offset 3 was written without its value.
	idx := index{parts: map[int][]entry{0: {
		{offset: 0, at: at(1), reason: ex},
		{offset: 1, at: at(2), reason: inv},
		{offset: 2, at: at(3), reason: ex},
		{offset: 3, at: at(4), reason: ex, cannot: "value not kept"},
		{offset: 4, at: at(5), reason: ex},
		{offset: 5, at: at(6), reason: inv},
	}}}
	e := extent{partitions: []int{0, 1}, start: map[int]int64{0: 0, 1: 0}, end: map[int]int64{0: 6, 1: 0}}
	from := func(reasons ...string) positions {
		pos := positions{}
		for _, r := range reasons {
			pos[r] = map[int]int64{0: 0, 1: 0}
		}
		return pos
	}
	for _, tc := range []struct {
		name    string
		pos     positions
		f       filter
		replay  []int64
		already int
		cannot  int
		passed  int
		held    string
		final   map[string]int64
	}{
		{name: "one reason from the start: the other reason's and the valueless are passed over",
			pos: from(ex), f: filter{reasons: []string{ex}},
			replay: []int64{0, 2, 4}, cannot: 1, final: map[string]int64{ex: 6}},
		{name: "a second run finds its position past what the first replayed",
			pos: positions{ex: {0: 6, 1: 0}}, f: filter{reasons: []string{ex}},
			already: 4, final: map[string]int64{ex: 6}},
		{name: "a position inside the partition",
			pos: positions{ex: {0: 3, 1: 0}}, f: filter{reasons: []string{ex}},
			replay: []int64{4}, already: 2, cannot: 1, final: map[string]int64{ex: 6}},
		{name: "until: held at the first newer one, valueless or not, so later runs still see it",
			pos: from(ex), f: filter{reasons: []string{ex}, until: at(3)},
			replay: []int64{0, 2}, held: "retries_exhausted/0@3 newer than -until, 1 behind", final: map[string]int64{ex: 3}},
		{name: "since: the older one ahead of the position holds the partition",
			pos: from(ex), f: filter{reasons: []string{ex}, since: at(3)},
			held: "retries_exhausted/0@0 older than -since, 3 behind", final: map[string]int64{ex: 0}},
		{name: "since with skipOlder: the older ones are passed over for good",
			pos: from(ex), f: filter{reasons: []string{ex}, since: at(3), skipOlder: true},
			replay: []int64{2, 4}, cannot: 1, passed: 1, final: map[string]int64{ex: 6}},
		{name: "since already behind the position holds nothing",
			pos: positions{ex: {0: 2, 1: 0}}, f: filter{reasons: []string{ex}, since: at(3)},
			replay: []int64{2, 4}, already: 1, cannot: 1, final: map[string]int64{ex: 6}},
		{name: "every reason, each its own position",
			pos: positions{ex: {0: 3, 1: 0}, inv: {0: 0, 1: 0}}, f: filter{reasons: []string{ex, inv}},
			replay: []int64{1, 4, 5}, already: 2, cannot: 1, final: map[string]int64{ex: 6, inv: 6}},
		{name: "a partition another member holds is left alone",
			pos: positions{ex: {1: 0}}, f: filter{reasons: []string{ex}}},
		{name: "a position past the extent (a later run moved it) never goes back",
			pos: positions{ex: {0: 9, 1: 0}}, f: filter{reasons: []string{ex}},
			already: 4, final: map[string]int64{ex: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := makePlan(idx, e, tc.pos, tc.f)
			pp := pl.parts[0]
			var replay []int64
			for _, en := range pp.replay {
				replay = append(replay, en.offset)
			}
			var held string
			for _, h := range pl.held {
				held += fmt.Sprintf("%s/%d@%d %s, %d behind", h.Reason, h.Partition, h.Offset, h.Why, h.Behind)
			}
			cannot := 0
			for _, n := range pl.cannot {
				cannot += n
			}
			if !slices.Equal(replay, tc.replay) || pl.total != len(tc.replay) || pl.already != tc.already || cannot != tc.cannot ||
				pl.passedOver != tc.passed || held != tc.held || !maps.Equal(pp.final, tc.final) && len(pp.final)+len(tc.final) > 0 {
				t.Errorf("plan: replay %v (total %d) already %d cannot %d passed %d held %q final %v\nwant: replay %v already %d cannot %d passed %d held %q final %v",
					replay, pl.total, pl.already, cannot, pl.passedOver, held, pp.final, tc.replay, tc.already, tc.cannot, tc.passed, tc.held, tc.final)
			}
		})
	}
}

// While a partition is replayed, a position moves just past what was
// acknowledged, and never past where its reason is held.
func TestPartPlanAfter(t *testing.T) {
	pp := &partPlan{final: map[string]int64{"a": 10, "b": 3}}
	if got := pp.after(4); !maps.Equal(got, map[string]int64{"a": 5, "b": 3}) {
		t.Fatalf("after(4) = %v", got)
	}
	if got := pp.after(1); !maps.Equal(got, map[string]int64{"a": 2, "b": 2}) {
		t.Fatalf("after(1) = %v", got)
	}
}
