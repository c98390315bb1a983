package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// metadataVersion is the Metadata request version the harness speaks:
// the newest kafka-go encodes, and one Kafka 4 still serves.
const metadataVersion = 8

// metadata asks the broker at addr, on a connection of its own, for the
// brokers and the given topics (nil: every topic; empty: none). A fresh
// connection because kafka-go's Transport answers metadata requests from
// its cache, and the harness wants what this broker says now.
func metadata(ctx context.Context, addr string, topics []string) (*metadataAPI.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	res, err := protocol.RoundTrip(conn, metadataVersion, 1, "kafkatest", &metadataAPI.Request{TopicNames: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", addr, err)
	}
	return res.(*metadataAPI.Response), nil
}

// missingBrokers returns the ids of want that res does not list.
func missingBrokers(res *metadataAPI.Response, want []int) []int {
	var missing []int
	for _, id := range want {
		if !slices.ContainsFunc(res.Brokers, func(b metadataAPI.ResponseBroker) bool { return int(b.NodeID) == id }) {
			missing = append(missing, id)
		}
	}
	return missing
}

// askMetadata asks the running nodes in turn (the bootstrap brokers of an
// external cluster) and returns the first answer.
func (c *Cluster) askMetadata(topics []string) (*metadataAPI.Response, error) {
	addrs := c.external
	if addrs == nil {
		for _, n := range c.nodes {
			if n.running() != nil {
				addrs = append(addrs, n.plainAddr())
			}
		}
	}
	errs := []error{errors.New("kafkatest: no broker answered")}
	for _, addr := range addrs {
		res, err := metadata(context.Background(), addr, topics)
		if err == nil {
			return res, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// PartitionState is what the cluster's metadata says of one partition.
type PartitionState struct {
	Topic     string
	Partition int
	Leader    int // -1 while it has none
	Replicas  []int
	ISR       []int
}

// ErrNoLeader is returned by LeaderOf while a partition has no leader,
// e.g. between its leader's death and the controller noticing it.
var ErrNoLeader = errors.New("kafkatest: partition has no leader")

// Partition returns what the first running node says of a partition.
func (c *Cluster) Partition(topic string, partition int) (PartitionState, error) {
	res, err := c.askMetadata([]string{topic})
	if err != nil {
		return PartitionState{}, err
	}
	for _, s := range partitionStates(res) {
		if s.Topic == topic && s.Partition == partition {
			return s, nil
		}
	}
	return PartitionState{}, fmt.Errorf("kafkatest: %s/%d: %w", topic, partition, kafka.UnknownTopicOrPartition)
}

// LeaderOf returns the id of the partition's leader.
func (c *Cluster) LeaderOf(topic string, partition int) (int, error) {
	s, err := c.Partition(topic, partition)
	if err != nil {
		return -1, err
	}
	if s.Leader < 0 {
		return -1, fmt.Errorf("%s/%d: %w", topic, partition, ErrNoLeader)
	}
	return s.Leader, nil
}

// PartitionsLedBy returns every partition, of every topic including the
// internal ones, whose leader is node id.
func (c *Cluster) PartitionsLedBy(id int) ([]PartitionState, error) {
	res, err := c.askMetadata(nil)
	if err != nil {
		return nil, err
	}
	var led []PartitionState
	for _, s := range partitionStates(res) {
		if s.Leader == id {
			led = append(led, s)
		}
	}
	return led, nil
}

func partitionStates(res *metadataAPI.Response) []PartitionState {
	var out []PartitionState
	for _, t := range res.Topics {
		if t.ErrorCode != 0 {
			continue
		}
		for _, p := range t.Partitions {
			s := PartitionState{Topic: t.Name, Partition: int(p.PartitionIndex), Leader: int(p.LeaderID)}
			for _, r := range p.ReplicaNodes {
				s.Replicas = append(s.Replicas, int(r))
			}
			for _, r := range p.IsrNodes {
				s.ISR = append(s.ISR, int(r))
			}
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b PartitionState) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	return out
}

// CreateTopic creates a topic for test t and returns its name, failing
// the test on error. Zero fields of cfg take defaults: a name unique to
// the test, one partition, the cluster's default replication factor (1,
// or 3 on three nodes). It returns once every running node's metadata
// shows a leader for each partition, so a producer can start at once.
func (c *Cluster) CreateTopic(t testing.TB, cfg kafka.TopicConfig) string {
	t.Helper()
	if cfg.Topic == "" {
		cfg.Topic = UniqueName(t, "topic")
	}
	if cfg.NumPartitions == 0 {
		cfg.NumPartitions = 1
	}
	if cfg.ReplicationFactor == 0 && len(cfg.ReplicaAssignments) == 0 {
		cfg.ReplicationFactor = -1 // the broker's default.replication.factor
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A transport of its own: kafka-go's default one caches metadata
	// across clients, and might route the request to a node killed since.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.liveBootstrap()...), Transport: transport, Timeout: queryTimeout}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{cfg}})
	if err == nil {
		err = res.Errors[cfg.Topic]
	}
	if err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", cfg.Topic, err)
	}
	if err := c.waitTopic(ctx, cfg.Topic, cfg.NumPartitions); err != nil {
		t.Fatalf("kafkatest: topic %s: %v", cfg.Topic, err)
	}
	return cfg.Topic
}

// waitTopic returns when every running node (every bootstrap broker of an
// external cluster) lists partitions of topic, each with a leader.
func (c *Cluster) waitTopic(ctx context.Context, topic string, partitions int) error {
	for _, addr := range c.liveBootstrap() {
		for {
			res, err := metadata(ctx, addr, []string{topic})
			if err == nil {
				led := 0
				for _, s := range partitionStates(res) {
					if s.Topic == topic && s.Leader >= 0 {
						led++
					}
				}
				if led >= partitions {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("broker %s shows no leader for all %d partitions: %w", addr, partitions, ctx.Err())
			case <-time.After(pollInterval):
			}
		}
	}
	return nil
}

// liveBootstrap is Bootstrap less the nodes that are not running, so a
// client does not start with a dead address.
func (c *Cluster) liveBootstrap() []string {
	if c.external != nil {
		return c.external
	}
	var addrs []string
	for _, n := range c.nodes {
		if n.running() != nil {
			addrs = append(addrs, n.plainAddr())
		}
	}
	return addrs
}

// UniqueName returns a Kafka-legal name (topic, group, transactional id)
// made of the test's name, kind and a random suffix, so tests sharing a
// cluster, and runs sharing an external one, never meet.
func UniqueName(t testing.TB, kind string) string {
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 180 {
		name = name[:180]
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return fmt.Sprintf("%s-%s-%s", name, kind, hex.EncodeToString(suffix))
}

// GroupID returns a consumer group id unique to the test.
func GroupID(t testing.TB) string { return UniqueName(t, "group") }

// TopicConfig returns the value the brokers hold for one configuration
// entry of topic (its own, or the broker default it inherits), e.g.
// "cleanup.policy" or "min.insync.replicas", so a test can check what a
// client asked for at creation really is in force.
func (c *Cluster) TopicConfig(topic, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.liveBootstrap()...), Transport: transport, Timeout: queryTimeout}
	res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
	}}})
	if err != nil {
		return "", fmt.Errorf("kafkatest: describe topic %s: %w", topic, err)
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			return "", fmt.Errorf("kafkatest: describe topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue, nil
			}
		}
	}
	return "", fmt.Errorf("kafkatest: topic %s has no configuration entry %s", topic, name)
}
