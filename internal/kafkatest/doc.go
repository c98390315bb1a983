// Package kafkatest runs real Apache Kafka brokers for tests: KRaft nodes
// (each a broker and a controller, all voters) started as JVMs from the
// jars deploy/kafka/fetch.sh fetches with Maven, on loopback ports picked
// free, with a PLAINTEXT listener and a SASL_SSL one (SCRAM-SHA-512,
// SCRAM-SHA-256 and PLAIN, with a CA and broker certificate made here).
//
// It is for tests only: production code never imports it. It complements
// kfake (streams/streamstest), which stays the broker of most tests; use
// this one where only the real thing answers: TLS and SASL, replication,
// leader failover, the log cleaner.
//
// A test package starts a cluster once and shares it:
//
//	func TestMain(m *testing.M) { kafkatest.Main(m) }
//
//	func TestX(t *testing.T) {
//		c := kafkatest.Shared(t) // or SharedWith(t, kafkatest.Options{Brokers: 3})
//		topic := c.CreateTopic(t, kafka.TopicConfig{NumPartitions: 3})
//		... kafka.TCP(c.Bootstrap()...), kafkatest.GroupID(t) ...
//	}
//
// Environment:
//   - KAFKA_TEST_SKIP=1 skips every test that asks for a cluster.
//   - KAFKA_TEST_BROKERS=host:port,... makes Shared return that cluster
//     instead of starting one; SecureBootstrap, CAFile and Users are then
//     empty and Kill, Stop and Restart fail with ErrExternal, so tests of
//     TLS, SASL and failures skip (see Cluster.External).
//   - REQUIRE_KAFKA=1 (set by make test) fails, instead of skipping, a
//     test when Java or Maven are missing.
//   - KAFKA_VERSION and KAFKA_LIBS_DIR choose the Kafka version and where
//     its jars are cached (see deploy/kafka/fetch.sh).
//   - KAFKA_TEST_CDS=0 starts the JVMs without the class-data-sharing
//     archive the harness otherwise makes once per Java and jars (cds.go).
//
// Clusters are shared per Options: a package asking for the default
// cluster, a three-node one and a FastCompaction one starts three. Each
// start costs a few seconds of two cores (one node about 2s, three about
// 5s, once the jars and the archive are cached).
//
// Each node's files are under Cluster.Dir()/node-N: server.properties,
// server.log (the broker's log), stdout.log (the JVM's) and data/.
package kafkatest
