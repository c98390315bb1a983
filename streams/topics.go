package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
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
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
