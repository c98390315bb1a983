package service_test

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/streams/streamstest"
)

// On Apache Kafka as on kfake, a member of a Sequential sink's group (UPS,
// Contacthub customers) finishes the records it fetched before it rejoins
// after a rebalance, and the group's next generation waits for that join:
// no member is handed a record of a partition while its old owner still
// holds records of it.
func TestSequentialSinkFinishesItsGenerationOnKafka(t *testing.T) {
	c := kafkatest.Shared(t)
	topic := c.CreateTopic(t, kafka.TopicConfig{NumPartitions: 2})
	dlq := c.CreateTopic(t, kafka.TopicConfig{Topic: topic + ".dlq"})
	streamstest.CheckFinishBeforeRejoin(t, c.Bootstrap(), topic, dlq, kafkatest.GroupID(t))
}
