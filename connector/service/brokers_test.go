package service_test

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/streams/streamstest"
)

// The pipeline tests of this package run twice: against kfake, the
// in-process imitation of a broker the fast tests use, and against a real
// Apache Kafka broker (internal/kafkatest) that the package's tests share.
// They assert the same things on both.

func TestMain(m *testing.M) { kafkatest.Main(m) }

// Broker kinds a pipeline test runs against.
const (
	kindKfake = "kfake"
	kindKafka = "kafka"
)

// testKafka is the broker of one run of a pipeline test, and the names of
// the test's topics and groups there.
type testKafka struct {
	kind string
	// prefix makes the test's topic and group names its own on the shared
	// real cluster (and on one named by KAFKA_TEST_BROKERS, which other
	// runs may share); "" on kfake, which is a broker per test.
	prefix string
	addr   string
}

// forEachBroker runs test once per broker kind, as subtests named after
// the kind (go test -run 'TestX/kafka' picks one).
func forEachBroker(t *testing.T, test func(t *testing.T, kb *testKafka)) {
	t.Helper()
	for _, kind := range []string{kindKfake, kindKafka} {
		t.Run(kind, func(t *testing.T) { test(t, newTestKafka(t, kind)) })
	}
}

// newTestKafka is the broker of kind for test t.
func newTestKafka(t testing.TB, kind string) *testKafka {
	kb := &testKafka{kind: kind}
	if kind == kindKafka {
		kb.prefix = kafkatest.UniqueName(t, "ns") + "."
	}
	return kb
}

// name is the test's name for a topic or group on this broker: name
// itself on kfake, name behind the test's own prefix on a real cluster.
func (k *testKafka) name(name string) string { return k.prefix + name }

// start makes the broker ready for the test, with topics (named by name)
// of partitions partitions each, and returns its bootstrap address. On
// kfake that is a broker of the test's own; on real Kafka the package's
// shared one-node cluster, whose broker creates no topic by itself: the
// others are created by the connector (create_topics) or the test.
func (k *testKafka) start(t testing.TB, partitions int, topics ...string) string {
	t.Helper()
	if k.kind == kindKfake {
		k.addr = streamstest.Broker(t, partitions, topics...)
		return k.addr
	}
	c := kafkatest.Shared(t)
	for _, topic := range topics {
		c.CreateTopic(t, kafka.TopicConfig{Topic: k.name(topic), NumPartitions: partitions})
	}
	k.addr = c.Bootstrap()[0]
	return k.addr
}
