package e2etest

import (
	"bytes"
	"testing"

	"github.com/contactlab/connector/schemas"
)

// A mixed batch holds exactly the valid records asked for, in order, and
// the distinct invalid ones, none of them at the end only: they spread
// through the stream. The same seed makes the same batch.
func TestEventsMixValidAndInvalid(t *testing.T) {
	const valid, invalid = 200, 10
	msgs, good, bad := Events(1, valid, invalid)
	if len(msgs) != valid+invalid || len(good) != valid || len(bad) != invalid {
		t.Fatalf("%d messages, %d valid, %d invalid; want %d, %d, %d", len(msgs), len(good), len(bad), valid+invalid, valid, invalid)
	}
	var g int
	var lastBad int
	for i, m := range msgs {
		if bad[string(m.Value)] {
			lastBad = i
			continue
		}
		if !bytes.Equal(m.Value, good[g]) {
			t.Fatalf("message %d is not valid event %d", i, g)
		}
		g++
	}
	if lastBad == len(msgs)-1 || lastBad < valid/2 {
		t.Fatalf("the last invalid record is at %d of %d: not spread", lastBad, len(msgs))
	}
	again, _, _ := Events(1, valid, invalid)
	for i := range msgs {
		if !bytes.Equal(msgs[i].Value, again[i].Value) {
			t.Fatalf("message %d differs between two batches of one seed", i)
		}
	}
	if _, bad := CategorizationRequests(1, 20, 3); len(bad) != 3 {
		t.Fatalf("%d invalid requests, want 3", len(bad))
	}
	if n := len(ValidCategorizationRequests(1, 30)); n != 30 {
		t.Fatalf("%d valid requests, want 30", n)
	}
}

// UPSUpdates remembers each user's last value.
func TestUPSUpdatesLastValue(t *testing.T) {
	msgs, last := UPSUpdates(t, 1, 20, schemas.Segments, 100)
	if len(msgs) != 100 || len(last) == 0 || len(last) > 20 {
		t.Fatalf("%d messages, %d users", len(msgs), len(last))
	}
	for user := range last {
		seen := false
		for _, m := range msgs {
			seen = seen || string(m.Key) == user
		}
		if !seen {
			t.Fatalf("user %s has a last value but no update", user)
		}
	}
}
