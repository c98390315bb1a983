// Package e2etest holds what the end-to-end tests of the connector share,
// those that run it in-process (connector/service) and those that run its
// binary (cmd/connector): batches of the demo's traffic, made the way the
// tests assert on them. It is for tests only: no production package may
// import it.
package e2etest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/schemas"
)

// epoch is the clock of the events' dates: one instant per test process,
// so that a seed makes the same batch whenever it is asked for (a second
// ticking between two batches changed their dates).
var epoch = time.Now().UTC().Truncate(time.Second)

// Events makes valid Contacthub events of the demo's generator (seeded
// with seed, for the sandbox's node) and invalid ones spread among them.
// It returns the messages, the valid values in order and the invalid ones
// as a set.
func Events(seed uint64, valid, invalid int) (msgs []kafka.Message, good [][]byte, bad map[string]bool) {
	g := demo.NewEventTraffic(seed, 500, sandbox.NodeID)
	g.Now = func() time.Time { return epoch }
	return mix(g.Next, &g.InvalidShare, valid, invalid)
}

// CategorizationRequests makes valid EnableNow categorization requests and
// invalid ones spread among them; it returns the messages and the invalid
// values as a set.
func CategorizationRequests(seed uint64, valid, invalid int) (msgs []kafka.Message, bad map[string]bool) {
	g := demo.NewCategorizationTraffic(seed)
	msgs, _, bad = mix(g.Next, &g.InvalidShare, valid, invalid)
	return msgs, bad
}

// mix draws valid records from next with the generator's invalid share at
// 0, then distinct invalid ones with it at 1, each inserted at its own
// place so that they spread through the stream.
func mix(next func() (key, value []byte, valid bool), invalidShare *float64, valid, invalid int) (msgs []kafka.Message, good [][]byte, bad map[string]bool) {
	*invalidShare = 0
	for len(good) < valid {
		k, v, _ := next()
		good = append(good, v)
		msgs = append(msgs, kafka.Message{Key: k, Value: v})
	}
	*invalidShare = 1
	bad = map[string]bool{}
	for len(bad) < invalid {
		k, v, ok := next()
		if ok || bad[string(v)] {
			continue
		}
		bad[string(v)] = true
		at := len(bad) * len(msgs) / (invalid + 1)
		msgs = append(msgs[:at], append([]kafka.Message{{Key: k, Value: v}}, msgs[at:]...)...)
	}
	return msgs, good, bad
}

// ValidCategorizationRequests makes n requests of the demo's generator at
// its usual invalid share, keeping only the valid ones: each must make
// exactly one job.
func ValidCategorizationRequests(seed uint64, n int) []kafka.Message {
	g := demo.NewCategorizationTraffic(seed)
	msgs := make([]kafka.Message, 0, n)
	for len(msgs) < n {
		if k, v, ok := g.Next(); ok {
			msgs = append(msgs, kafka.Message{Key: k, Value: v})
		}
	}
	return msgs
}

// UPSUpdates makes n valid updates of collection c for users users, keyed
// by user, and returns them with the last value each user was given:
// what UPS must hold once they are delivered.
func UPSUpdates(t testing.TB, seed uint64, users int, c schemas.Collection, n int) (msgs []kafka.Message, last map[string][]byte) {
	t.Helper()
	g := demo.NewUPSTraffic(seed, users, c)
	g.InvalidShare = 0
	last = map[string][]byte{}
	msgs = make([]kafka.Message, 0, n)
	for range n {
		k, v, _ := g.Next()
		var rec struct{ Value json.RawMessage }
		if err := json.Unmarshal(v, &rec); err != nil {
			t.Fatal(err)
		}
		last[string(k)] = rec.Value
		msgs = append(msgs, kafka.Message{Key: k, Value: v})
	}
	return msgs, last
}
