package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams/delivery"
)

// TopicSpec describes a topic the connector creates when it is missing.
type TopicSpec struct {
	Name       string
	Partitions int
	// Compacted topics keep the latest record per key (offset stores, entity
	// topics keyed by id).
	Compacted bool
}

// EnsureTopics creates the missing topics on a plaintext cluster with
// Admin's defaults; see Admin.EnsureTopics.
func EnsureTopics(ctx context.Context, brokers []string, specs ...TopicSpec) error {
	return Admin{Brokers: brokers}.EnsureTopics(ctx, specs...)
}

// Admin creates the topics the connector writes.
type Admin struct {
	Brokers  []string
	Security Security
	// ReplicationFactor of the topics it creates; 0 takes the broker's
	// default.replication.factor (1 on a dev cluster; set 3 on a 3-broker
	// production cluster).
	ReplicationFactor int
	// MinInsyncReplicas, when set, is the topics' min.insync.replicas (2
	// with a replication factor of 3, so that acks=all survives one broker).
	MinInsyncReplicas int
}

// EnsureTopics creates the topics that do not exist yet, as Kafka Connect
// does for its dead-letter and internal topics. Existing topics are left
// alone.
func (a Admin) EnsureTopics(ctx context.Context, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	cl := &kafka.Client{Addr: kafka.TCP(a.Brokers...), Timeout: 10 * time.Second, Transport: a.Security.Transport()}
	req := &kafka.CreateTopicsRequest{}
	rf := a.ReplicationFactor
	if rf <= 0 {
		rf = -1 // the broker's default.replication.factor
	}
	for _, s := range specs {
		parts := s.Partitions
		if parts <= 0 {
			parts = 1
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: parts, ReplicationFactor: rf}
		if s.Compacted {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		}
		if a.MinInsyncReplicas > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(a.MinInsyncReplicas)})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	var created []string
	for name, err := range resp.Errors {
		switch {
		case err == nil:
			created = append(created, name)
		case !errors.Is(err, kafka.TopicAlreadyExists):
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return awaitLeaders(ctx, cl, created)
}

// topicsReadyWithin bounds the wait for new topics' partition leaders.
const topicsReadyWithin = 30 * time.Second

// awaitLeaders returns once every partition of the topics just created has
// a leader. A CreateTopics answer means the controller took the topics, not
// that their leaders are known: a loaded three-broker cluster refused
// produce requests for a new results topic as unknown for seconds after,
// while the records whose job results it held waited, in flight, through a
// rebalance. Topics that existed already are not waited for: an offline
// partition of one is the pipelines' to report, not a reason not to start.
func awaitLeaders(ctx context.Context, cl *kafka.Client, names []string) error {
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, topicsReadyWithin)
	defer cancel()
	retry := delivery.Forever(50*time.Millisecond, time.Second).Start()
	for {
		err := leadersKnown(ctx, cl, names)
		if err == nil {
			return nil
		}
		wait, _ := retry.Next(err)
		if !delivery.Sleep(ctx, wait) {
			return err
		}
	}
}

// leadersKnown is nil when the cluster's metadata gives every partition of
// the topics a leader, or names the first topic that lacks one.
func leadersKnown(ctx context.Context, cl *kafka.Client, names []string) error {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("topics' metadata: %w", err)
	}
	found := make(map[string]bool, len(md.Topics))
	for _, t := range md.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s created, not ready yet: %v", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return fmt.Errorf("topic %s created, partition %d has no leader yet", t.Name, p.ID)
			}
		}
		found[t.Name] = true
	}
	for _, n := range names {
		if !found[n] {
			return fmt.Errorf("topic %s created, not in the metadata yet", n)
		}
	}
	return nil
}
