package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

func TestSubscribeConfigValidate(t *testing.T) {
	good := streams.SubscribeConfig{Brokers: []string{"b:9092"}, GroupID: "app", Topics: []string{"t"}}
	for _, tc := range []struct {
		name   string
		mutate func(*streams.SubscribeConfig)
		want   string
	}{
		{"minimal", func(c *streams.SubscribeConfig) {}, ""},
		{"no brokers", func(c *streams.SubscribeConfig) { c.Brokers = nil }, "brokers"},
		// Without a group there is nothing to commit to.
		{"no group", func(c *streams.SubscribeConfig) { c.GroupID = "" }, "group_id"},
		{"no topics", func(c *streams.SubscribeConfig) { c.Topics = nil }, "topics"},
		{"negative commit interval", func(c *streams.SubscribeConfig) { c.CommitInterval = -time.Second }, "commit_interval"},
		{"retry inverted", func(c *streams.SubscribeConfig) {
			c.Retry = streams.RetryPolicy{InitialInterval: time.Minute, MaxInterval: time.Second}
		}, "retry.initial_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			requireNamed(t, c.Validate(), tc.want)
		})
	}
}

// requireNamed is the assertion of a config table: want "" means the config
// is accepted (err nil), anything else that err names want, the key at
// fault.
func requireNamed(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("rejected: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want it to name %q", err, want)
	}
}

type item struct {
	N int `json:"n"`
}

func decodeItem(b []byte) (item, error) {
	var it item
	err := json.Unmarshal(b, &it)
	return it, err
}

// Every record reaches the handler decoded and in partition order; a
// failing handler is retried, a rejecting one skipped, an undecodable record
// skipped, a tombstone handed over as such; offsets are committed after the
// handler returned, so a second subscriber of the group sees only new records.
func TestSubscribeHandlesInOrderAndCommits(t *testing.T) {
	addr := streamstest.Broker(t, 3, "items")
	const n = 300
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{Key: []byte("k" + strconv.Itoa(i%7)), Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	msgs = append(msgs,
		kafka.Message{Key: []byte("k1"), Value: nil},             // a tombstone
		kafka.Message{Key: []byte("k2"), Value: []byte("{oops")}, // does not decode
	)
	streamstest.Produce(t, addr, "items", msgs...)

	var mu sync.Mutex
	seen := map[int]int{}
	last := map[string]int{} // per key, the last n handled
	tombstones := 0
	failedOnce := false
	cfg := streams.SubscribeConfig{Brokers: []string{addr}, GroupID: "app", Topics: []string{"items"}, CommitInterval: 20 * time.Millisecond,
		Retry: streams.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}, SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- streams.Subscribe(ctx, cfg, decodeItem, func(ctx context.Context, ch streams.Change[item]) error {
			mu.Lock()
			defer mu.Unlock()
			if ch.Tombstone {
				tombstones++
				return nil
			}
			switch ch.Value.N {
			case 10:
				if !failedOnce {
					failedOnce = true
					return streams.RetryAfter(time.Millisecond, errors.New("try again"))
				}
			case 20:
				return streams.Reject("bad", errors.New("not this one"))
			}
			if prev, ok := last[string(ch.Key)]; ok && prev >= ch.Value.N {
				return fmt.Errorf("key %s: %d after %d", ch.Key, ch.Value.N, prev)
			}
			last[string(ch.Key)] = ch.Value.N
			seen[ch.Value.N]++
			return nil
		})
	}()
	streamstest.WaitFor(t, 20*time.Second, "every record handled and committed", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "app", "items")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Subscribe returned %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !failedOnce || tombstones != 1 {
		t.Fatalf("failed once %v, tombstones %d", failedOnce, tombstones)
	}
	for i := range n {
		want := 1
		if i == 20 {
			want = 0 // rejected
		}
		if seen[i] != want {
			t.Fatalf("record %d handled %d times, want %d", i, seen[i], want)
		}
	}

	// The group resumes after its commits: only what comes next is handled.
	streamstest.Produce(t, addr, "items", kafka.Message{Key: []byte("k0"), Value: []byte(`{"n":1000}`)})
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	var again []int
	go func() {
		done <- streams.Subscribe(ctx2, cfg, decodeItem, func(ctx context.Context, ch streams.Change[item]) error {
			again = append(again, ch.Value.N)
			if ch.Value.N == 1000 {
				cancel2()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the second subscriber never saw the new record")
	}
	if len(again) != 1 {
		t.Fatalf("second subscriber handled %v, want only the new record", again)
	}
}

// A handler that keeps failing holds its record (order matters) until the
// subscription stops; the record stays uncommitted.
func TestSubscribeRetriesUntilStopped(t *testing.T) {
	addr := streamstest.Broker(t, 1, "items")
	streamstest.Produce(t, addr, "items", kafka.Message{Value: []byte(`{"n":1}`)}, kafka.Message{Value: []byte(`{"n":2}`)})
	cfg := streams.SubscribeConfig{Brokers: []string{addr}, GroupID: "stuck", Topics: []string{"items"}, CommitInterval: 10 * time.Millisecond,
		Retry: streams.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	attempts := map[int]int{}
	done := make(chan error, 1)
	go func() {
		done <- streams.Subscribe(ctx, cfg, decodeItem, func(ctx context.Context, ch streams.Change[item]) error {
			mu.Lock()
			defer mu.Unlock()
			attempts[ch.Value.N]++
			return fmt.Errorf("down: %w", streams.ErrUnauthorized)
		})
	}()
	streamstest.WaitFor(t, 20*time.Second, "several attempts at the first record", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return attempts[1] >= 5, fmt.Sprint(attempts)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if attempts[2] != 0 {
		t.Fatalf("the second record was handled (%d) while the first failed", attempts[2])
	}
	for _, off := range streamstest.Committed(t, addr, "stuck", "items") {
		if off > 0 {
			t.Fatalf("committed %d past a record that never succeeded", off)
		}
	}
}
