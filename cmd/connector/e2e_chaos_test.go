package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// The chaos suite: a real connector process, a real broker process and the
// sandbox, broken the ways production breaks them (the process killed at
// any instant, the broker gone for 30 s, the API down for a minute, a
// record too large to dead-letter as it is, a graceful stop under load, a
// wrong credential, restarts). Each test asserts that nothing is lost, that
// duplicates stay within the bound the README states (max_in_flight per
// interruption), and that /readyz says what is going on. The tests run in
// parallel: each has its own broker, sandbox and connector.

// chaosConfig writes the config of one contacthub-events pipeline named
// events reading web.events; kafkaKeys go in the kafka section (the group
// timeouts), sinkKeys under the sink.
func chaosConfig(t *testing.T, broker string, sb *sandbox.Sandbox, token, kafkaKeys, sinkKeys string) string {
	t.Helper()
	return writeConfigWith(t, broker, kafkaKeys, fmt.Sprintf(`contacthub:
  base_url: %s
  workspace_id: %s
  token: %q
sinks:
  - name: events
    type: contacthub-events
    topics: [web.events]
`, sb.ContacthubURL(), sandbox.WorkspaceID, token)+sinkKeys)
}

// shortGroupTimeouts makes a killed member's partitions free within 3 s.
const shortGroupTimeouts = "  session_timeout: 3s\n  heartbeat_interval: 300ms\n"

// caughtUp waits until the events group has committed every record of
// web.events.
func caughtUp(t *testing.T, broker string, timeout time.Duration) {
	t.Helper()
	streamstest.WaitFor(t, timeout, "the events group to commit every record", func() (bool, string) {
		return streamstest.CaughtUp(t, broker, "connector-events", "web.events")
	})
}

// startReady starts a connector process with the config at cfg, records
// what its /readyz says, and waits until it answers 200.
func startReady(t *testing.T, connectorBin, cfg string) (*proc, *readyzLog) {
	t.Helper()
	conn := start(t, connectorBin, "run", "-config", cfg)
	ready := watchReadyz(t, conn)
	ready.await(t, 30*time.Second, 0, "ready", func(s readyzState) bool { return s.Code == 200 })
	return conn, ready
}

// awaitAccepted waits (what) until Contacthub accepted at least n events,
// copies included.
func awaitAccepted(t *testing.T, sb *sandbox.Sandbox, n int64, what string) {
	t.Helper()
	streamstest.WaitFor(t, 60*time.Second, what, func() (bool, string) {
		got := accepted(sb)
		return got >= n, fmt.Sprint(got)
	})
}

// accepted is how many events Contacthub accepted so far, copies included.
func accepted(sb *sandbox.Sandbox) int64 { return sb.Contacthub.Stats().Accepted }

// Finding: a crash at any instant loses nothing and repeats at most the
// uncommitted window. The process is killed with SIGKILL at random moments
// (once its first records are in flight, or after a random number of
// deliveries) while events keep arriving.
func TestChaosSIGKILLLoop(t *testing.T) {
	t.Parallel()
	connectorBin, broker := buildAndStartBroker(t, 4, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(3 * time.Millisecond), ServerErrorShare: 0.02}
	})
	const maxInFlight, kills = 300, 7
	cfg := chaosConfig(t, broker, sb, sandbox.ContacthubToken, shortGroupTimeouts, fmt.Sprintf("    concurrency: 16\n    max_in_flight: %d\n", maxInFlight))

	load := newEventLoad(21)
	streamstest.Produce(t, broker, "web.events", load.next(2000)...)
	prod := produceEvery(t, load, broker, "web.events", 50, 100*time.Millisecond)

	seed := uint64(time.Now().UnixNano())
	rnd := rand.New(rand.NewPCG(seed, 1))
	var moments []string
	for i := range kills {
		p := start(t, connectorBin, "run", "-config", cfg)
		// One in four as soon as it has fetched a record (its join is
		// over: records are in flight, perhaps none delivered), the others
		// after 1..2×max_in_flight more deliveries. Not while it joins:
		// kfake never expires a member killed while its JoinGroup waits
		// for the group (it starts the member's session only once the
		// JoinGroup answer reached it), so the group would wait for it
		// forever; TestKillWhileJoiningOnKafka kills members mid-join on
		// real Kafka.
		more := int64(0)
		if rnd.IntN(4) > 0 {
			more = 1 + rnd.Int64N(2*maxInFlight)
		}
		base := accepted(sb)
		streamstest.WaitFor(t, 60*time.Second, fmt.Sprintf("kill %d: a record fetched and %d more deliveries", i+1, more), func() (bool, string) {
			c, ok := p.status("events")
			n := accepted(sb)
			return ok && c.Consumed > 0 && n >= base+more, fmt.Sprintf("consumed %d, %d delivered", c.Consumed, n-base)
		})
		p.kill(t)
		moments = append(moments, fmt.Sprintf("+%d", accepted(sb)-base))
	}
	sent := prod.stop()
	final := start(t, connectorBin, "run", "-config", cfg)
	caughtUp(t, broker, 120*time.Second)
	final.stop(t)

	got := load.count(sb)
	t.Logf("SIGKILL loop (seed %d): %d kills after deliveries %v; %d events produced under load besides 2000; %s", seed, kills, moments, sent, got)
	if got.lost > 0 {
		t.Fatalf("%d events lost across %d kills", got.lost, kills)
	}
	if bound := kills * maxInFlight; got.duplicates > bound {
		t.Fatalf("%d duplicates over %d kills; each kill may repeat at most max_in_flight (%d): %d", got.duplicates, kills, maxInFlight, bound)
	}
}

// Finding 5 and health: the broker (with its data on disk) is stopped for
// 30 s mid-run and started again on the same address. /readyz turns 503
// naming Kafka and back to 200; nothing is lost; duplicates (records
// delivered during the outage whose commits failed) stay within
// max_in_flight, the window of uncommitted records.
func TestChaosBrokerOutage(t *testing.T) {
	t.Parallel()
	connectorBin, brokerBin := build(t)
	dir := t.TempDir()
	brokerArgs := []string{"-data-dir", dir, "-partitions", "4", "-topics", "web.events"}
	broker := start(t, brokerBin, append([]string{"-addr", "127.0.0.1:0"}, brokerArgs...)...)
	addr := listening(t, broker)
	brokerArgs = append([]string{"-addr", addr}, brokerArgs...) // the restart keeps the address
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(10 * time.Millisecond)}
	})
	const maxInFlight = 2000 // the default, as in the run
	cfg := chaosConfig(t, addr, sb, sandbox.ContacthubToken, shortGroupTimeouts,
		"    concurrency: 32\n    health: {interval: 500ms, broker_unreachable_after: 5s}\n")

	load := newEventLoad(22)
	streamstest.Produce(t, addr, "web.events", load.next(20000)...)
	conn, ready := startReady(t, connectorBin, cfg)
	awaitAccepted(t, sb, 2000, "2000 delivered before the outage")

	broker.terminate()
	down := time.Now()
	atStop := accepted(sb)
	i, st := ready.await(t, 30*time.Second, 0, "/readyz 503 naming Kafka", func(s readyzState) bool {
		return s.Code == 503 && s.has("Kafka unreachable")
	})
	notReadyAfter := st.At.Sub(down)
	time.Sleep(time.Until(down.Add(30 * time.Second))) // the outage itself
	duringOutage := accepted(sb) - atStop
	broker = start(t, brokerBin, brokerArgs...)
	up := time.Now()
	if got := listening(t, broker); got != addr {
		t.Fatalf("the restarted broker listens on %s, not %s", got, addr)
	}
	forgetConnections()
	_, st = ready.await(t, 60*time.Second, i+1, "/readyz 200 after the outage", func(s readyzState) bool { return s.Code == 200 })
	readyAfter := st.At.Sub(up)
	caughtUp(t, addr, 120*time.Second)
	conn.stop(t)

	got := load.count(sb)
	t.Logf("broker outage 30 s: not ready %.1fs after the stop, ready %.1fs after the restart; %d delivered during the outage; %s; readyz:%s",
		notReadyAfter.Seconds(), readyAfter.Seconds(), duringOutage, got, ready.history())
	if got.lost > 0 {
		t.Fatalf("%d events lost across the broker outage", got.lost)
	}
	if got.duplicates > maxInFlight {
		t.Fatalf("%d duplicates after a broker outage, more than max_in_flight %d", got.duplicates, maxInFlight)
	}
}

// forgetConnections drops the test's pooled connections to brokers (the
// helpers use kafka-go's default transport), which a broker restart left
// dead; the next request dials afresh.
func forgetConnections() {
	kafka.DefaultTransport.(*kafka.Transport).CloseIdleConnections()
}

// Health: Contacthub answers 503 to everything for 60 s. /readyz turns 503
// ("every delivery attempt failed") and back; retries outlast the outage
// (retry.max_elapsed 10m), so every event is delivered without a replay,
// and a 503 accepts nothing, so there are no duplicates either.
func TestChaosAPIOutage(t *testing.T) {
	t.Parallel()
	connectorBin, broker := buildAndStartBroker(t, 4, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(5 * time.Millisecond)}
	})
	const maxInFlight = 2000
	cfg := chaosConfig(t, broker, sb, sandbox.ContacthubToken, shortGroupTimeouts,
		"    retry: {initial: 100ms, max: 2s, max_elapsed: 10m}\n    health: {interval: 500ms, failing_after: 5s}\n")

	load := newEventLoad(23)
	streamstest.Produce(t, broker, "web.events", load.next(3000)...)
	prod := produceEvery(t, load, broker, "web.events", 20, 100*time.Millisecond)
	conn, ready := startReady(t, connectorBin, cfg)
	awaitAccepted(t, sb, 1000, "1000 delivered before the outage")

	setFaults(t, sb, fault.Settings{ServerErrorShare: 1})
	down := time.Now()
	i, st := ready.await(t, 60*time.Second, 0, "/readyz 503: every attempt fails", func(s readyzState) bool {
		return s.Code == 503 && s.has("every delivery attempt failed")
	})
	notReadyAfter := st.At.Sub(down)
	time.Sleep(time.Until(down.Add(60 * time.Second))) // the outage itself
	setFaults(t, sb, fault.Settings{Latency: fault.Duration(5 * time.Millisecond)})
	up := time.Now()
	_, st = ready.await(t, 60*time.Second, i+1, "/readyz 200 after the outage", func(s readyzState) bool { return s.Code == 200 })
	readyAfter := st.At.Sub(up)
	sent := prod.stop()
	caughtUp(t, broker, 120*time.Second)
	conn.stop(t)

	got := load.count(sb)
	t.Logf("API outage 60 s: not ready %.1fs after it began, ready %.1fs after it ended; %d events produced meanwhile besides 3000; %d 503s; %s; readyz:%s",
		notReadyAfter.Seconds(), readyAfter.Seconds(), sent, sb.Contacthub.Faults().Counts().ServerErrors, got, ready.history())
	if got.lost > 0 {
		t.Fatalf("%d events lost across the API outage", got.lost)
	}
	if got.duplicates > maxInFlight {
		t.Fatalf("%d duplicates after an API outage, more than max_in_flight %d", got.duplicates, maxInFlight)
	}
}

// Finding 1: an invalid record just under the broker's message.max.bytes
// (1 MiB + 12 bytes on kfake and Kafka alike): its dead-letter copy, with
// the dlq.* headers added, would not fit. It is dead-lettered without its
// value (the headers say so, with its size and SHA-256), the partition
// moves on to the valid records behind it, and /readyz never claims a
// dead-letter problem it does not have.
func TestChaosHugeInvalidRecord(t *testing.T) {
	t.Parallel()
	connectorBin, broker := buildAndStartBroker(t, 1, "web.events") // one partition: the valid records are behind it
	sb := sandboxtest.Start(t, nil)
	cfg := chaosConfig(t, broker, sb, sandbox.ContacthubToken, shortGroupTimeouts, "")

	const maxMessageBytes = 1048588 // message.max.bytes, the default of Kafka and kfake
	// A batch of one record is 61 bytes of batch header, 11 of record
	// framing, the key and the value: this one is as large as the broker
	// takes, and larger than the 1 MiB the reader asks for per fetch.
	key := []byte("huge")
	head, tail := `{"type":"viewedPage","context":"WEB","properties":{"pad":"`, `"}}`
	value := []byte(head + strings.Repeat("x", maxMessageBytes-61-11-len(key)-len(head)-len(tail)) + tail)
	load := newEventLoad(24)
	streamstest.Produce(t, broker, "web.events", load.next(200)...)
	produceOne(t, broker, "web.events", kafka.Message{Key: key, Value: value})
	streamstest.Produce(t, broker, "web.events", load.next(200)...)

	conn := start(t, connectorBin, "run", "-config", cfg)
	ready := watchReadyz(t, conn)
	caughtUp(t, broker, 90*time.Second)
	_, final := ready.await(t, 30*time.Second, 0, "/readyz 200 once caught up", func(s readyzState) bool { return s.Code == 200 })
	conn.stop(t)

	if got := load.count(sb); got.lost > 0 {
		t.Fatalf("%d valid events lost behind the huge record: %s", got.lost, got)
	}
	dls := streamstest.ReadAll(t, broker, "events.dlq")
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want the huge record's only", len(dls))
	}
	h := streamstest.Headers(dls[0])
	sum := sha256.Sum256(value)
	want := map[string]string{
		streams.HeaderDLQValueOmitted: "too_large",
		streams.HeaderDLQValueSize:    strconv.Itoa(len(value)),
		streams.HeaderDLQValueSHA256:  hex.EncodeToString(sum[:]),
		streams.HeaderDLQTopic:        "web.events",
		streams.HeaderDLQOffset:       "200",
		streams.HeaderDLQReason:       "invalid",
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("dead letter header %s = %q, want %q", k, h[k], v)
		}
	}
	if len(dls[0].Value) != 0 || string(dls[0].Key) != string(key) {
		t.Errorf("dead letter keeps %d bytes of value and key %q, want no value and key %q", len(dls[0].Value), dls[0].Key, key)
	}
	for _, s := range ready.all() {
		if s.has("dead letter") {
			t.Errorf("/readyz claimed a dead-letter problem: %s", s)
		}
	}
	t.Logf("huge invalid record (%d bytes): dead-lettered without its value (%s), 400 valid events delivered; readyz at the end %s; history:%s", len(value), h[streams.HeaderDLQError][:min(80, len(h[streams.HeaderDLQError]))], final, ready.history())
}

// produceOne writes one record in a batch of its own.
func produceOne(t *testing.T, broker, topic string, m kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(broker), Topic: topic, RequiredAcks: kafka.RequireAll, BatchBytes: 16 << 20, BatchSize: 1}
	defer w.Close()
	if err := w.WriteMessages(t.Context(), m); err != nil {
		t.Fatalf("produce %d bytes: %v", len(m.Value), err)
	}
}

// Finding: a graceful stop under load drains and commits everything in
// flight, so the next process repeats nothing: 0 duplicates, with retries
// (5% 503) pending at the SIGTERM.
func TestChaosSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	connectorBin, broker := buildAndStartBroker(t, 4, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(20 * time.Millisecond), ServerErrorShare: 0.05}
	})
	cfg := chaosConfig(t, broker, sb, sandbox.ContacthubToken, shortGroupTimeouts, "    concurrency: 32\n")

	load := newEventLoad(25)
	streamstest.Produce(t, broker, "web.events", load.next(6000)...)
	prod := produceEvery(t, load, broker, "web.events", 30, 100*time.Millisecond)
	first := start(t, connectorBin, "run", "-config", cfg)
	var inFlight int64
	streamstest.WaitFor(t, 60*time.Second, "1500 delivered and records in flight", func() (bool, string) {
		st, _ := first.status("events")
		inFlight = st.InFlight
		n := accepted(sb)
		return n >= 1500 && inFlight > 0, fmt.Sprintf("accepted %d, in flight %d", n, inFlight)
	})
	stopAt := time.Now()
	first.stop(t)
	stopTook := time.Since(stopAt)
	atStop := load.count(sb)

	second := start(t, connectorBin, "run", "-config", cfg)
	streamstest.WaitFor(t, 60*time.Second, "the second process delivering", func() (bool, string) {
		n := accepted(sb)
		return n > int64(atStop.events-atStop.lost), fmt.Sprint(n)
	})
	sent := prod.stop()
	caughtUp(t, broker, 120*time.Second)
	second.stop(t)

	got := load.count(sb)
	t.Logf("SIGTERM under load: %d in flight at the signal, graceful stop took %s; %d produced meanwhile besides 6000; after restart %s",
		inFlight, stopTook.Round(time.Millisecond), sent, got)
	if got.lost > 0 {
		t.Fatalf("%d events lost across a graceful stop", got.lost)
	}
	if got.duplicates > 0 {
		t.Fatalf("%d duplicates after a graceful stop and restart, want 0", got.duplicates)
	}
}

// Finding 6: a wrong credential makes the pipeline pause, logged once; it
// is retried quietly (not hundreds of lines) and never reported resumed,
// however many invalid records (dead-lettered without a call) pass. When
// the API accepts the credential again, "resumed" is logged once, after a
// call succeeded.
func TestChaosWrongCredential(t *testing.T) {
	t.Parallel()
	connectorBin, brokerBin := build(t)
	const observe = 10 * time.Second

	// quiet counts the lines after start-up; they must be few.
	quiet := func(t *testing.T, p *proc) []string {
		t.Helper()
		var lines []string
		for _, l := range p.logLines() {
			if !strings.Contains(l, `"msg":"connector starting"`) && !strings.Contains(l, `"msg":"pipeline started"`) {
				lines = append(lines, l)
			}
		}
		return lines
	}
	produceMixed := func(t *testing.T, broker string, load *eventLoad) {
		streamstest.Produce(t, broker, "web.events", load.next(300)...)
		var bad []kafka.Message
		for i := range 30 {
			bad = append(bad, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(`{"type":"viewed_page","context":"WEB"}`)})
		}
		streamstest.Produce(t, broker, "web.events", bad...)
		streamstest.Produce(t, broker, "web.events", load.next(300)...)
	}

	t.Run("wrong token", func(t *testing.T) {
		t.Parallel()
		broker := startBroker(t, brokerBin, 4, "web.events")
		sb := sandboxtest.Start(t, nil)
		// Paused records cannot be delivered: the stop need not wait long.
		cfg := chaosConfig(t, broker, sb, "not-the-token", shortGroupTimeouts, "    shutdown_grace: 1s\n")
		produceMixed(t, broker, newEventLoad(26))
		conn := start(t, connectorBin, "run", "-config", cfg)
		began := time.Now()
		ready := watchReadyz(t, conn)
		ready.await(t, 30*time.Second, 0, "/readyz 503 paused", func(s readyzState) bool { return s.Code == 503 && s.has("paused") })
		time.Sleep(time.Until(began.Add(observe))) // what it logs over this time is the point
		lines := quiet(t, conn)
		conn.stop(t)
		t.Logf("wrong token: %d log lines in %s besides start-up:\n%s\nreadyz:%s", len(lines), observe, strings.Join(lines, "\n"), ready.history())
		if len(lines) > 5 {
			t.Fatalf("%d log lines in %s with a wrong credential, want a handful", len(lines), observe)
		}
		if n := strings.Count(strings.Join(lines, "\n"), `"pipeline paused`); n != 1 {
			t.Fatalf("paused logged %d times, want once", n)
		}
		if strings.Contains(strings.Join(conn.logLines(), "\n"), "pipeline resumed") {
			t.Fatal("resumed reported although no call succeeded")
		}
		if n := accepted(sb); n != 0 {
			t.Fatalf("Contacthub accepted %d events with a wrong token", n)
		}
	})

	t.Run("credential refused then accepted", func(t *testing.T) {
		t.Parallel()
		broker := startBroker(t, brokerBin, 4, "web.events")
		sb := sandboxtest.Start(t, func(c *sandbox.Config) {
			c.Contacthub.Faults = fault.Settings{UnauthorizedFor: fault.Duration(observe)}
		})
		cfg := chaosConfig(t, broker, sb, sandbox.ContacthubToken, shortGroupTimeouts, "")
		load := newEventLoad(27)
		produceMixed(t, broker, load)
		conn := start(t, connectorBin, "run", "-config", cfg)
		ready := watchReadyz(t, conn)
		i, _ := ready.await(t, 30*time.Second, 0, "/readyz 503 paused", func(s readyzState) bool { return s.Code == 503 && s.has("paused") })
		// Until Contacthub accepted an event, no "resumed": looked at
		// before the count, so a resume logged after a success is never
		// taken for an early one.
		streamstest.WaitFor(t, 60*time.Second, "resumed", func() (bool, string) {
			resumed := strings.Contains(strings.Join(conn.logLines(), "\n"), "pipeline resumed")
			if n := accepted(sb); resumed && n == 0 {
				t.Fatal("resumed reported before Contacthub accepted anything")
			}
			return resumed, ""
		})
		ready.await(t, 30*time.Second, i+1, "/readyz 200", func(s readyzState) bool { return s.Code == 200 })
		caughtUp(t, broker, 60*time.Second)
		lines := quiet(t, conn)
		conn.stop(t)
		all := strings.Join(lines, "\n")
		t.Logf("401 for %s, then accepted: %d log lines besides start-up:\n%s\nreadyz:%s", observe, len(lines), all, ready.history())
		if n := strings.Count(all, `"pipeline resumed"`); n != 1 {
			t.Fatalf("resumed logged %d times, want once", n)
		}
		if n := strings.Count(all, `"pipeline paused`); n != 1 {
			t.Fatalf("paused logged %d times, want once", n)
		}
		if len(lines) > 8 {
			t.Fatalf("%d log lines for one pause and one resume, want a handful", len(lines))
		}
		if got := load.count(sb); got.lost > 0 {
			t.Fatalf("%s after the credential came back", got)
		}
	})
}

// A member frozen (SIGSTOP) past its session timeout loses its partitions
// to the other member; resumed (SIGCONT), it finds its generation gone,
// rejoins, and finishes what it held. Three times, under load. Nothing is
// lost, the group commits every record (a resumed member once committed
// its old positions over the other's progress, so the group never caught
// up), and duplicates stay within the uncommitted windows: kafka-go reads
// every partition again from the group's offset at each rebalance, so each
// rebalance may repeat each member's window, and a freeze makes two (the
// member leaves, and comes back).
func TestChaosFrozenMember(t *testing.T) {
	t.Parallel()
	connectorBin, broker := buildAndStartBroker(t, 4, "web.events")
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{Latency: fault.Duration(10 * time.Millisecond)}
	})
	const maxInFlight, freezes = 500, 3
	cfg := chaosConfig(t, broker, sb, sandbox.ContacthubToken, shortGroupTimeouts, fmt.Sprintf("    concurrency: 32\n    max_in_flight: %d\n", maxInFlight))
	load := newEventLoad(29)
	streamstest.Produce(t, broker, "web.events", load.next(6000)...)
	prod := produceEvery(t, load, broker, "web.events", 30, 100*time.Millisecond)
	frozen := start(t, connectorBin, "run", "-config", cfg)
	other := start(t, connectorBin, "run", "-config", cfg)
	streamstest.WaitFor(t, 60*time.Second, "both members delivering", func() (bool, string) {
		a, _ := frozen.status("events")
		b, _ := other.status("events")
		return a.Delivered > 0 && b.Delivered > 0, fmt.Sprintf("%d, %d", a.Delivered, b.Delivered)
	})
	for i := range freezes {
		before, _ := frozen.status("events")
		if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8 * time.Second) // the freeze, past the 3 s session timeout
		if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		streamstest.WaitFor(t, 60*time.Second, fmt.Sprintf("freeze %d: the resumed member delivering again", i+1), func() (bool, string) {
			st, ok := frozen.status("events")
			return ok && st.Delivered > before.Delivered+int64(maxInFlight), fmt.Sprint(st.Delivered - before.Delivered)
		})
	}
	sent := prod.stop()
	caughtUp(t, broker, 120*time.Second)
	frozen.stop(t)
	other.stop(t)

	got := load.count(sb)
	t.Logf("frozen member: %d freezes of 8 s; %d events produced under load besides 6000; %s", freezes, sent, got)
	if got.lost > 0 {
		t.Fatalf("%d events lost across %d freezes", got.lost, freezes)
	}
	const rebalances, members = 2 * freezes, 2
	if bound := rebalances * members * maxInFlight; got.duplicates > bound {
		t.Fatalf("%d duplicates over %d rebalances, more than a window (%d) per member each: %d", got.duplicates, rebalances, maxInFlight, bound)
	}
}

// Finding 8: how long a restarted process takes to deliver again, with the
// default group timeouts. kafka-go has no static membership: a process
// stopped with SIGTERM leaves the group, so its successor joins at once; one
// killed with SIGKILL stays a member until its session times out, and the
// successor gets its partitions only then.
func TestChaosRestartToFirstDelivery(t *testing.T) {
	t.Parallel()
	connectorBin, broker := buildAndStartBroker(t, 4, "web.events")
	sb := sandboxtest.Start(t, nil)
	cfg := chaosConfig(t, broker, sb, sandbox.ContacthubToken, "", "") // the default session_timeout and heartbeat_interval
	load := newEventLoad(28)
	prod := produceEvery(t, load, broker, "web.events", 20, 50*time.Millisecond)

	// restart starts a process and returns how long it took to deliver.
	restart := func() (*proc, time.Duration) {
		base := accepted(sb)
		began := time.Now()
		p := start(t, connectorBin, "run", "-config", cfg)
		streamstest.WaitFor(t, 60*time.Second, "a delivery by the new process", func() (bool, string) {
			n := accepted(sb)
			return n > base, fmt.Sprint(n - base)
		})
		return p, time.Since(began)
	}
	first, cold := restart()
	first.stop(t)
	second, afterTerm := restart()
	second.kill(t)
	third, afterKill := restart()
	prod.stop()
	caughtUp(t, broker, 60*time.Second)
	third.stop(t)
	if got := load.count(sb); got.lost > 0 {
		t.Fatalf("%s across the restarts", got)
	}
	t.Logf("restart to first delivery: first start %s, after SIGTERM %s, after SIGKILL %s", cold.Round(time.Millisecond), afterTerm.Round(time.Millisecond), afterKill.Round(time.Millisecond))
	if afterTerm > 5*time.Second {
		t.Errorf("after SIGTERM the successor took %s to deliver; the old member left the group, so it should join at once", afterTerm)
	}
	if limit := streams.DefaultSessionTimeout + 4*time.Second; afterKill > limit {
		t.Errorf("after SIGKILL the successor took %s to deliver; the session timeout is %s", afterKill, streams.DefaultSessionTimeout)
	}
}
