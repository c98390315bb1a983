// Package streamstest holds test helpers shared by the packages that test
// against a real (embedded) broker: start one, produce, read a topic back,
// compare committed and end offsets, and wait on conditions with deadlines.
package streamstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams/embedded"
)

// Broker starts an embedded broker for the test and closes it at the end.
func Broker(t testing.TB, partitions int, topics ...string) string {
	t.Helper()
	b, err := embedded.Start(embedded.Config{Partitions: partitions, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

// Each helper call has a Transport of its own, closed when it returns:
// kafka-go's default one caches each broker's metadata for seconds across
// every client of the process, so a topic created on a broker that
// outlives a test (a real cluster shared by a package) would be unknown to
// the next call.

// Produce writes msgs to topic and fails the test on error.
func Produce(t testing.TB, addr, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		BatchSize: 1000, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, BatchBytes: 16 << 20,
		Transport: &kafka.Transport{}}
	defer w.Transport.(*kafka.Transport).CloseIdleConnections()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 5000)
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		msgs = msgs[n:]
	}
}

// Partitions returns the partition ids of topic.
func Partitions(t testing.TB, addr, topic string) []int {
	t.Helper()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ps, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	ids := make([]int, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// EndOffsets returns the high-water mark of each partition of topic.
func EndOffsets(t testing.TB, addr, topic string) map[int]int64 {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: tr}
	var reqs []kafka.OffsetRequest
	for _, p := range Partitions(t, addr, topic) {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := cl.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("end offset %s/%d: %v", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}

// Committed returns group's committed offset per partition of topic (-1 none).
func Committed(t testing.TB, addr, group, topic string) map[int]int64 {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: tr}
	resp, err := cl.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: Partitions(t, addr, topic)}})
	if err != nil {
		t.Fatalf("committed offsets of %s: %v", group, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// ReadAll reads every record of topic up to its current end offsets.
func ReadAll(t testing.TB, addr, topic string) []kafka.Message {
	t.Helper()
	ends := EndOffsets(t, addr, topic)
	var out []kafka.Message
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			out = append(out, m)
			if m.Offset >= end-1 {
				break
			}
		}
		cancel()
		r.Close()
	}
	return out
}

// WaitFor is testkit.WaitFor, kept here because most pipeline tests
// already import this package.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testkit.WaitFor(t, timeout, what, cond)
}

// CaughtUp reports whether group has committed the end of every partition.
func CaughtUp(t testing.TB, addr, group, topic string) (bool, string) {
	t.Helper()
	ends := EndOffsets(t, addr, topic)
	com := Committed(t, addr, group, topic)
	for p, e := range ends {
		if com[p] != e && !(e == 0 && com[p] < 0) {
			return false, fmt.Sprintf("committed %v, end %v", com, ends)
		}
	}
	return true, ""
}

// Headers are m's headers by key (the last of a key that repeats).
func Headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}
