package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/streams/streamstest"
)

// Helpers of the chaos suite (e2e_chaos_test.go): distinct events whose
// deliveries the sandbox counts, load that goes on while a test breaks
// things, and a record of every change of a process's /readyz.

// eventLoad makes valid, distinct Contacthub events (each body carries a
// sequence number) and remembers them, so that the sandbox can say how
// often it accepted each one.
type eventLoad struct {
	mu     sync.Mutex
	g      *demo.EventTraffic
	bodies [][]byte
}

func newEventLoad(seed uint64) *eventLoad {
	g := demo.NewEventTraffic(seed, 500, sandbox.NodeID)
	g.InvalidShare = 0
	return &eventLoad{g: g}
}

// next makes n new events.
func (l *eventLoad) next(n int) []kafka.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		k, v, _ := l.g.Next()
		l.bodies = append(l.bodies, v)
		msgs[i] = kafka.Message{Key: k, Value: v}
	}
	return msgs
}

// all is every event made so far.
func (l *eventLoad) all() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.bodies)
}

// tally is what Contacthub did with a set of events.
type tally struct {
	events     int // produced
	lost       int // never accepted
	duplicates int // accepted copies beyond the first, summed over events
	maxCopies  int // the most copies of one event
}

func (t tally) String() string {
	return fmt.Sprintf("%d events, %d lost, %d duplicates (at most %d copies of one)", t.events, t.lost, t.duplicates, t.maxCopies)
}

// count asks the sandbox how often it accepted each event of l.
func (l *eventLoad) count(sb *sandbox.Sandbox) tally {
	bodies := l.all()
	out := tally{events: len(bodies)}
	for _, b := range bodies {
		n := sb.Contacthub.AcceptedCount(b)
		switch {
		case n == 0:
			out.lost++
		case n > 1:
			out.duplicates += n - 1
		}
		out.maxCopies = max(out.maxCopies, n)
	}
	return out
}

// producer writes events of l to a topic at a steady rate until stopped:
// the load under which the suite kills, cuts off and restarts things.
// While the broker is down its writes fail and are retried; what never
// reached the broker is dropped from l, so it is not expected downstream.
type producer struct {
	halt func() // ends the writes, waiting for the last
	mu   sync.Mutex
	sent int
	err  error
}

// produceEvery starts writing batch events of l to topic every interval.
func produceEvery(t *testing.T, l *eventLoad, broker, topic string, batch int, interval time.Duration) *producer {
	p := &producer{}
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		BatchSize: batch, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, MaxAttempts: 3}
	stopWrites := every(interval, nil, func() {
		msgs := l.next(batch)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.WriteMessages(ctx, msgs...)
		cancel()
		p.mu.Lock()
		if err != nil {
			p.err = err
			l.forget(msgs, err)
		} else {
			p.sent += len(msgs)
		}
		p.mu.Unlock()
	})
	p.halt = func() { stopWrites(); w.Close() } // Close is safe to call twice
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the load and waits for the last write; it returns how many
// events reached the broker. Safe to call twice.
func (p *producer) stop() int {
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

// forget drops from l the messages of a write that failed. kafka-go's
// WriteErrors says which of them failed; any other error fails them all.
func (l *eventLoad) forget(msgs []kafka.Message, err error) {
	failed := map[string]bool{}
	var we kafka.WriteErrors
	perMessage := errors.As(err, &we) && len(we) == len(msgs)
	for i, m := range msgs {
		if !perMessage || we[i] != nil {
			failed[string(m.Value)] = true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bodies = slices.DeleteFunc(l.bodies, func(b []byte) bool { return failed[string(b)] })
}

// setFaults changes the Contacthub stand-in's faults through its HTTP
// endpoint, as an operator or a chaos tool would.
func setFaults(t *testing.T, sb *sandbox.Sandbox, s fault.Settings) {
	t.Helper()
	body, _ := json.Marshal(s)
	req, _ := http.NewRequest(http.MethodPut, sb.URL()+"/_sandbox/contacthub/faults", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT faults: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT faults: HTTP %d", resp.StatusCode)
	}
}

// readyzState is one answer of /readyz and when it was asked for.
type readyzState struct {
	At time.Time
	readiness
}

// readyzLog records every change of a process's /readyz (its status code,
// which units are not ready, or why), asking every 100 ms while the
// process runs. A unit's reason changes while it stays not ready (reading
// from Kafka fails first, the brokers are found unreachable later): a log
// of the units alone missed that, and a wait for the later reason timed
// out whenever the fetches failed first.
type readyzLog struct {
	mu      sync.Mutex
	changes []readyzState
	stop    func()
}

func watchReadyz(t *testing.T, p *proc) *readyzLog {
	w := &readyzLog{}
	w.stop = every(100*time.Millisecond, p.done, func() {
		addr := p.opsAddr()
		if addr == "" {
			return
		}
		at := time.Now()
		w.record(readyzState{At: at, readiness: askReady(addr)})
	})
	t.Cleanup(w.stop)
	return w
}

func (w *readyzLog) record(st readyzState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.changes); n > 0 {
		last := w.changes[n-1]
		if last.Code == st.Code && maps.Equal(last.NotReady, st.NotReady) {
			return
		}
	}
	w.changes = append(w.changes, st)
}

// await waits until a change at or after index from satisfies cond, and
// returns its index and state.
func (w *readyzLog) await(t *testing.T, timeout time.Duration, from int, what string, cond func(readyzState) bool) (int, readyzState) {
	t.Helper()
	var idx int
	var found readyzState
	streamstest.WaitFor(t, timeout, what, func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i := from; i < len(w.changes); i++ {
			if cond(w.changes[i]) {
				idx, found = i, w.changes[i]
				return true, ""
			}
		}
		return false, w.historyLocked()
	})
	return idx, found
}

// history is every change seen, one per line, times relative to the first.
func (w *readyzLog) history() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.historyLocked()
}

func (w *readyzLog) historyLocked() string {
	var b strings.Builder
	for _, c := range w.changes {
		fmt.Fprintf(&b, "\n  +%5.1fs %s", c.At.Sub(w.changes[0].At).Seconds(), c)
	}
	return b.String()
}

// all returns a copy of every change seen.
func (w *readyzLog) all() []readyzState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.changes)
}

// logLines is the process's log so far, one entry per line.
func (p *proc) logLines() []string {
	return strings.Split(strings.TrimSpace(p.logText()), "\n")
}
