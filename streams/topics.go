package streams

import (
	"context"
	"errors"
	"fmt"
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

// EnsureTopics creates the topics that do not exist yet, as Kafka Connect does
// for its dead-letter and internal topics. Existing topics are left alone.
func EnsureTopics(ctx context.Context, brokers []string, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		parts := s.Partitions
		if parts <= 0 {
			parts = 1
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: parts, ReplicationFactor: 1}
		if s.Compacted {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
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
