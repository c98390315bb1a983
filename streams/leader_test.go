package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

func TestLeaderElectionConfigValidate(t *testing.T) {
	good := streams.LeaderElectionConfig{Name: "src", Brokers: []string{"b:9092"}, GroupID: "g", Topic: "t"}
	for _, tc := range []struct {
		name   string
		mutate func(*streams.LeaderElectionConfig)
		want   string // "" for valid
	}{
		{"defaults fill the timeouts", func(c *streams.LeaderElectionConfig) {}, ""},
		{"no brokers", func(c *streams.LeaderElectionConfig) { c.Brokers = nil }, "brokers"},
		{"no group", func(c *streams.LeaderElectionConfig) { c.GroupID = "" }, "group_id"},
		{"no topic", func(c *streams.LeaderElectionConfig) { c.Topic = "" }, "topic"},
		// A leader heartbeating no faster than its session expires is evicted while alive.
		{"heartbeat not below session", func(c *streams.LeaderElectionConfig) {
			c.SessionTimeout, c.HeartbeatInterval = time.Second, time.Second
		}, "heartbeat_interval"},
		{"negative timeout", func(c *streams.LeaderElectionConfig) { c.SessionTimeout = -1 }, "session_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			_, err := streams.NewLeaderElection(c)
			requireNamed(t, err, tc.want)
		})
	}
}

// candidate is one member of an election under test.
type candidate struct {
	e       *streams.LeaderElection
	leading atomic.Int32
	leads   atomic.Int32
	stop    context.CancelFunc
	done    chan error
}

// startCandidate runs an election member; leaders counts the members leading
// at once across candidates, and overlap records if it ever exceeded one.
func startCandidate(t *testing.T, addr string, abortable bool, leaders, overlap *atomic.Int32) *candidate {
	t.Helper()
	e, err := streams.NewLeaderElection(streams.LeaderElectionConfig{
		Name: "test", Brokers: []string{addr}, GroupID: "election", Topic: "election",
		SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &candidate{e: e, stop: stop, done: make(chan error, 1)}
	lead := func(ctx context.Context) error {
		if leaders.Add(1) > 1 {
			overlap.Store(1)
		}
		c.leading.Store(1)
		c.leads.Add(1)
		<-ctx.Done()
		c.leading.Store(0)
		leaders.Add(-1)
		return ctx.Err()
	}
	run := e.Run
	if abortable {
		run = e.RunUntilAbort
	}
	go func() { c.done <- run(ctx, lead) }()
	t.Cleanup(func() {
		stop()
		<-c.done
	})
	return c
}

func (c *candidate) state() streams.LeaderState { return c.e.State() }

// One of two members leads; when it leaves (gracefully: at once; crashing:
// after the session timeout) the other takes over, and never do both lead.
func TestLeaderElectionHandsOver(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash bool
	}{
		{"leader leaves the group", false},
		{"leader crashes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := streamstest.Broker(t, 1, "election")
			var leaders, overlap atomic.Int32
			a := startCandidate(t, addr, tc.crash, &leaders, &overlap)
			b := startCandidate(t, addr, tc.crash, &leaders, &overlap)
			var leader, standby *candidate
			streamstest.WaitFor(t, 15*time.Second, "one leader and one standby", func() (bool, string) {
				switch {
				case a.state() == streams.LeaderActive && b.state() == streams.LeaderStandby && a.leading.Load() == 1:
					leader, standby = a, b
				case b.state() == streams.LeaderActive && a.state() == streams.LeaderStandby && b.leading.Load() == 1:
					leader, standby = b, a
				default:
					return false, fmt.Sprintf("a %s, b %s", a.state(), b.state())
				}
				return true, ""
			})
			stoppedAt := time.Now()
			leader.stop()
			if err := <-leader.done; err != nil {
				t.Fatalf("stopped leader returned %v", err)
			}
			leader.done <- nil
			if s := leader.state(); s != streams.LeaderStopped {
				t.Fatalf("stopped leader reports %s", s)
			}
			streamstest.WaitFor(t, 15*time.Second, "the standby to lead", func() (bool, string) {
				return standby.leading.Load() == 1, standby.state().String()
			})
			took := time.Since(stoppedAt)
			// A crashed leader is given up on only after its session timeout,
			// which runs from its last heartbeat: up to one heartbeat
			// interval (100ms) before the crash.
			if tc.crash && took < 900*time.Millisecond {
				t.Fatalf("took over %v after a crash, before the session timeout (1s less a heartbeat): the crash left the group", took)
			}
			if overlap.Load() != 0 {
				t.Fatal("two members led at once")
			}
			t.Logf("took over after %v", took)
		})
	}
}

// A lead that fails ends Run with its error; the member leaves the group.
func TestLeaderElectionLeadErrorEndsRun(t *testing.T) {
	addr := streamstest.Broker(t, 1, "election")
	e, err := streams.NewLeaderElection(streams.LeaderElectionConfig{Name: "test", Brokers: []string{addr}, GroupID: "g", Topic: "election",
		SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = e.Run(ctx, func(context.Context) error { return boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "leader election test") {
		t.Fatalf("Run returned %v, want the lead's error with the election's name", err)
	}
}
