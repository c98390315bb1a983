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
	"sort"
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
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	sent  int
	err   error
}

// produceEvery starts writing batch events of l to topic every interval.
func produceEvery(t *testing.T, l *eventLoad, broker, topic string, batch int, interval time.Duration) *producer {
	p := &producer{stopc: make(chan struct{}), done: make(chan struct{})}
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		BatchSize: batch, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, MaxAttempts: 3}
	go func() {
		defer close(p.done)
		defer w.Close()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-tick.C:
			}
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
		}
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the load and waits for the last write; it returns how many
// events reached the broker. Safe to call twice.
func (p *producer) stop() int {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	<-p.done
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

// opsClient asks a connector's ops endpoint; a frozen process does not
// answer, and must not hold the test.
var opsClient = &http.Client{Timeout: 2 * time.Second}

// readyzState is one answer of /readyz.
type readyzState struct {
	At      time.Time
	Code    int               // 0: no answer
	Reasons map[string]string // unit -> why it is not ready
}

func (s readyzState) String() string {
	if s.Code == 0 {
		return "no answer"
	}
	units := make([]string, 0, len(s.Reasons))
	for u, why := range s.Reasons {
		units = append(units, u+": "+why)
	}
	sort.Strings(units)
	return fmt.Sprintf("%d %s", s.Code, strings.Join(units, "; "))
}

// has reports whether some unit's reason contains text.
func (s readyzState) has(text string) bool {
	for _, why := range s.Reasons {
		if strings.Contains(why, text) {
			return true
		}
	}
	return false
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
	stopc   chan struct{}
	done    chan struct{}
}

func watchReadyz(t *testing.T, p *proc) *readyzLog {
	w := &readyzLog{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stopc:
				return
			case <-p.done:
				return
			case <-tick.C:
			}
			addr := p.opsAddr()
			if addr == "" {
				continue
			}
			st := readyzState{At: time.Now()}
			if resp, err := opsClient.Get("http://" + addr + "/readyz"); err == nil {
				var body struct {
					NotReady map[string]string `json:"not_ready"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				st.Code, st.Reasons = resp.StatusCode, body.NotReady
			}
			w.record(st)
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *readyzLog) stop() {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
}

func (w *readyzLog) record(st readyzState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.changes); n > 0 {
		last := w.changes[n-1]
		if last.Code == st.Code && maps.Equal(last.Reasons, st.Reasons) {
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

// status is a process's /status counts of one pipeline.
func (p *proc) status(pipeline string) (c struct {
	Consumed, Delivered, InFlight, Lag int64
}, ok bool) {
	resp, err := opsClient.Get("http://" + p.opsAddr() + "/status")
	if err != nil {
		return c, false
	}
	defer resp.Body.Close()
	var st struct {
		Counts map[string]struct {
			Consumed  int64 `json:"consumed"`
			Delivered int64 `json:"delivered"`
			InFlight  int64 `json:"in_flight"`
			Lag       int64 `json:"lag"`
		} `json:"counts"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return c, false
	}
	s := st.Counts[pipeline]
	c.Consumed, c.Delivered, c.InFlight, c.Lag = s.Consumed, s.Delivered, s.InFlight, s.Lag
	return c, true
}

// logLines is the process's log so far, one entry per line.
func (p *proc) logLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Split(strings.TrimSpace(p.logs.String()), "\n")
}
