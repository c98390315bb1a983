package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// LeaderElectionConfig configures a LeaderElection.
type LeaderElectionConfig struct {
	// Name identifies the election in logs and errors (a source's name).
	Name     string
	Brokers  []string
	Security Security
	// GroupID is the consumer group the candidates join: one group per
	// election, shared by every replica that competes for it.
	GroupID string
	// Topic is what the group subscribes to. The member assigned its
	// partition 0 leads; nothing is ever read from it. With one partition,
	// every other member is a standby, whatever the group's size.
	Topic string
	// SessionTimeout is how long a leader that stopped heartbeating (a crash,
	// a partition) keeps the lead before another member takes over.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	Logger            *slog.Logger
}

func (c LeaderElectionConfig) withDefaults() LeaderElectionConfig {
	memberDefaults(&c.SessionTimeout, &c.HeartbeatInterval, &c.Logger)
	return c
}

// Validate reports every field that cannot work, naming it.
func (c LeaderElectionConfig) Validate() error {
	p := configProblems{config: fmt.Sprintf("leader election %q", c.Name)}
	p.member(c.Brokers, c.GroupID, "must be set")
	p.check(c.Topic == "", "topic", "must be set: the group is elected through its partition 0")
	p.check(c.SessionTimeout < 0 || c.HeartbeatInterval < 0, "session_timeout/heartbeat_interval", "must not be negative")
	p.check(c.SessionTimeout > 0 && c.HeartbeatInterval >= c.SessionTimeout, "heartbeat_interval", "must be shorter than session_timeout, or a live leader would be evicted")
	return p.err()
}

// LeaderState is where a member stands in an election.
type LeaderState int32

const (
	// LeaderStopped: not taking part (Run has not started or has returned).
	LeaderStopped LeaderState = iota
	// LeaderJoining: joining the group or waiting for a rebalance to settle.
	LeaderJoining
	// LeaderStandby: a member, but another one leads.
	LeaderStandby
	// LeaderActive: this member leads.
	LeaderActive
)

func (s LeaderState) String() string {
	switch s {
	case LeaderJoining:
		return "joining"
	case LeaderStandby:
		return "standby"
	case LeaderActive:
		return "active"
	}
	return "stopped"
}

// LeaderElection picks one leader among the replicas of a job through a
// Kafka consumer group, so that nothing but Kafka is needed to agree on who
// does a job that must run once (tailing an API, say). Kafka's group
// protocol gives the guarantees: a member learns that a rebalance started at
// its next heartbeat, and a new generation (so a new leader) is formed only
// after every member rejoined or was evicted for missing SessionTimeout.
//
// What it does not give is fencing: a leader cut off from the coordinator
// but not from the partitions it writes keeps writing until it notices, at
// most about SessionTimeout later. Work handed to the leader must tolerate
// that overlap (the update stream source tolerates it because records carry
// their source offset and it stores offsets only after acknowledgement).
type LeaderElection struct {
	cfg   LeaderElectionConfig
	log   *slog.Logger
	state atomic.Int32

	mu      sync.Mutex
	joinErr error // why the last attempt to join failed; nil once in a generation
}

// NewLeaderElection validates cfg; it connects nothing yet.
func NewLeaderElection(cfg LeaderElectionConfig) (*LeaderElection, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &LeaderElection{cfg: cfg, log: cfg.Logger.With("election", cfg.Name, "group", cfg.GroupID)}, nil
}

// State is where this member stands now.
func (e *LeaderElection) State() LeaderState { return LeaderState(e.state.Load()) }

// JoinError is why the last attempt to join the election failed, in words
// that name the broker and the cause (a refused password, an untrusted
// certificate); nil while the member is in a generation, or before it
// failed. A member that keeps joining says why on /readyz with it.
func (e *LeaderElection) JoinError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.joinErr
}

// setJoinError records a failed join (nil: joined) and reports whether
// the failure is new or gone.
func (e *LeaderElection) setJoinError(err error) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	changed := (e.joinErr == nil) != (err == nil)
	if err != nil {
		err = &joinError{err}
	}
	e.joinErr = err
	return changed
}

// joinError says what a failure to join means (describeConnErr).
type joinError struct{ err error }

func (e *joinError) Error() string { return "Kafka: " + describeConnErr(e.err) }
func (e *joinError) Unwrap() error { return e.err }

// Run takes part in the election until ctx ends. Each time this member
// becomes the leader, lead runs with a context that ends when the lead does
// (the generation ended, or ctx did); lead must then return promptly, within
// SessionTimeout, or a new leader may start while it still works.
//
// lead returning nil or a context error means "the lead ended"; the member
// rejoins and may lead again. Any other error ends Run with that error. When
// ctx ends, Run leaves the group, so a standby takes over at once, and
// returns nil.
func (e *LeaderElection) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	return e.run(ctx, lead, true)
}

// RunUntilAbort is Run that, when ctx ends, drops its connections instead of
// leaving the group, as a crash would: a standby takes over only once the
// coordinator has missed SessionTimeout of heartbeats. Tests use it to show
// that a dead leader's work is taken over.
func (e *LeaderElection) RunUntilAbort(ctx context.Context, lead func(ctx context.Context) error) error {
	return e.run(ctx, lead, false)
}

func (e *LeaderElection) run(ctx context.Context, lead func(ctx context.Context) error, graceful bool) error {
	cfg := e.cfg
	conns := &severableDialer{conns: map[*trackedConn]struct{}{}}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		Brokers:           cfg.Brokers,
		Dialer:            conns.wrap(cfg.Security.Dialer()),
		Topics:            []string{cfg.Topic},
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.SessionTimeout,
		JoinGroupBackoff:  cfg.HeartbeatInterval,
		// A heartbeat that cannot get through in a third of the session ends
		// the generation, so a cut-off leader stops well before the
		// coordinator gives its lead away.
		Timeout:     max(cfg.SessionTimeout/3, 100*time.Millisecond),
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) { e.log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("leader election %s: %w", cfg.Name, err)
	}
	e.state.Store(int32(LeaderJoining))
	defer func() {
		if !graceful {
			// Closing the connections first keeps the group's LeaveGroup
			// from reaching the coordinator.
			conns.sever()
		}
		_ = group.Close()
		e.state.Store(int32(LeaderStopped))
	}()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// kafka-go reports join failures (a rebalance in progress, a
			// broker not up yet) and retries by itself after a back-off.
			// Those waiting does not fix are worth a warning, once.
			if e.setJoinError(err) && isPermanentConnErr(err) {
				e.log.Warn("joining the leader election fails; retrying", "error", describeConnErr(err))
			} else {
				e.log.Debug("joining the election failed; kafka-go retries", "error", err)
			}
			e.setState(LeaderJoining)
			continue
		}
		if e.setJoinError(nil) {
			e.log.Info("joined the leader election")
		}
		if !holdsPartitionZero(gen, cfg.Topic) {
			e.setState(LeaderStandby)
			// Next blocks until this generation ends and the next is formed.
			continue
		}
		e.setState(LeaderActive)
		leadErr := make(chan error, 1)
		gen.Start(func(genCtx context.Context) {
			leadCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(genCtx, cancel)
			defer stop()
			leadErr <- lead(leadCtx)
		})
		err = <-leadErr
		e.setState(LeaderJoining)
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, kafka.ErrGenerationEnded) {
			return fmt.Errorf("leader election %s: lead: %w", cfg.Name, err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (e *LeaderElection) setState(s LeaderState) {
	if old := LeaderState(e.state.Swap(int32(s))); old != s && (s == LeaderActive || old == LeaderActive || s == LeaderStandby) {
		e.log.Info("leader election: "+s.String(), "was", old.String())
	}
}

func holdsPartitionZero(gen *kafka.Generation, topic string) bool {
	for _, pa := range gen.Assignments[topic] {
		if pa.ID == 0 {
			return true
		}
	}
	return false
}

// errSevered is what a severed dialer answers: the process is "dead".
var errSevered = errors.New("connections severed")

// severableDialer tracks the connections it opens so that sever can close
// them all at once and refuse new ones, which is how RunUntilAbort plays a
// crash without a real one.
type severableDialer struct {
	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	severed bool
}

func (d *severableDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.isSevered() {
		return nil, errSevered
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.severed {
		_ = c.Close()
		return nil, errSevered
	}
	tc := &trackedConn{Conn: c, owner: d}
	d.conns[tc] = struct{}{}
	return tc, nil
}

func (d *severableDialer) isSevered() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.severed
}

func (d *severableDialer) sever() {
	d.mu.Lock()
	d.severed = true
	conns := make([]*trackedConn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	owner *severableDialer
	once  sync.Once
}

func (c *trackedConn) Close() error {
	var err error
	c.once.Do(func() {
		c.owner.mu.Lock()
		delete(c.owner.conns, c)
		c.owner.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

// wrap has kd open its TCP connections through d; TLS and SASL, which kd
// adds on top, are unchanged.
func (d *severableDialer) wrap(kd *kafka.Dialer) *kafka.Dialer {
	kd.DialFunc = d.dial
	return kd
}
