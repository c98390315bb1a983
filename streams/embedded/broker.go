// Package embedded runs an in-process Kafka-protocol broker (franz-go's kfake)
// so the whole system runs on one machine with no Docker: `make run`,
// cmd/broker and the tests use it. Clients reach it over real TCP like any
// broker. It is not for production: it keeps data in memory unless DataDir
// is set, and runs a single node.
package embedded

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures the broker.
type Config struct {
	// Addr is host:port to listen on; ":0" or "" picks a free loopback port.
	Addr string
	// Partitions is the partition count of automatically created topics.
	Partitions int
	// Topics are created at start with Partitions partitions.
	Topics []string
	// DataDir, when set, persists the broker's state there across restarts.
	DataDir string
	// NoAutoCreate makes the broker refuse produce and fetch requests to
	// topics that do not exist, as production clusters usually do.
	NoAutoCreate bool
}

// Broker is a running embedded broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// Start starts a broker.
func Start(cfg Config) (*Broker, error) {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 4
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.GroupMinSessionTimeout(500 * 1e6),
	}
	if cfg.Addr != "" {
		_, portStr, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: addr %q: %w", cfg.Addr, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: addr %q: port: %w", cfg.Addr, err)
		}
		if port != 0 {
			opts = append(opts, kfake.Ports(port))
		}
	}
	if !cfg.NoAutoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(cfg.Partitions), cfg.Topics...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{c: c, addr: c.ListenAddrs()[0]}, nil
}

// Addr is the bootstrap address, host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker. It is safe to call twice.
func (b *Broker) Close() {
	if b.c != nil {
		b.c.Close()
	}
}

// FailOffsetCommits makes the broker answer every offset commit with
// COORDINATOR_NOT_AVAILABLE while fail returns true, and handle commits
// normally otherwise: a commit outage without a fetch outage, for tests of
// what a consumer does while it cannot commit.
func (b *Broker) FailOffsetCommits(fail func() bool) {
	b.failCommits(func(string, int32) bool { return fail() }, kerr.CoordinatorNotAvailable.Code)
}

// FailOffsetCommitsOf makes the broker refuse offset commit requests that
// name a partition fail picks with ILLEGAL_GENERATION (the whole request,
// as for a member whose generation moved on), and handle the others
// normally.
func (b *Broker) FailOffsetCommitsOf(fail func(topic string, partition int32) bool) {
	b.failCommits(fail, kerr.IllegalGeneration.Code)
}

func (b *Broker) failCommits(fail func(topic string, partition int32) bool, code int16) {
	b.c.ControlKey(kmsg.OffsetCommit.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.c.KeepControl()
		refuse := false
		for _, t := range req.(*kmsg.OffsetCommitRequest).Topics {
			for _, p := range t.Partitions {
				refuse = refuse || fail(t.Topic, p.Partition)
			}
		}
		if !refuse {
			return nil, nil, false
		}
		creq := req.(*kmsg.OffsetCommitRequest)
		resp := creq.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range creq.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}
