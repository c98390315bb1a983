package kafkatest

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Options describe a cluster to start. The zero value is one broker with
// auto topic creation off.
type Options struct {
	// Brokers is the number of nodes, each a combined broker and KRaft
	// controller, all of them voters of the quorum: 1 (the default) or 3.
	Brokers int

	// FastCompaction makes the log cleaner look every 100ms, clean any
	// dirty log, roll segments every second and delete cleaned segments
	// and tombstones a second later, so a compaction test sees its result
	// in seconds. Topics may tighten it further (segment.ms,
	// min.cleanable.dirty.ratio) at creation.
	FastCompaction bool

	// AutoCreateTopics turns the broker's auto.create.topics.enable on. Off
	// by default so that a test writing to a topic it never created fails
	// instead of passing against a topic with the broker's defaults.
	AutoCreateTopics bool

	// Config holds server.properties entries written after the harness's
	// own, so they override them (e.g. "log.retention.ms").
	Config map[string]string

	// StartTimeout bounds formatting the storage and starting every node,
	// and each Restart. Default 2 minutes: three JVMs on two busy cores.
	StartTimeout time.Duration

	// LibsDir is the directory of the Kafka jars. Default: what
	// deploy/kafka/fetch.sh prints (it fetches them with Maven when they
	// are not cached; KAFKA_LIBS_DIR and KAFKA_VERSION steer it).
	LibsDir string

	// cdsDump, set only by sharedArchive, makes the node's JVM write the
	// classes it loaded to this class-data-sharing archive when it exits.
	cdsDump string
}

const defaultStartTimeout = 2 * time.Minute

// withDefaults fills the zero fields and rejects what the harness cannot
// start.
func (o Options) withDefaults() (Options, error) {
	if o.Brokers == 0 {
		o.Brokers = 1
	}
	if o.Brokers != 1 && o.Brokers != 3 {
		return o, fmt.Errorf("kafkatest: Brokers = %d: want 1 or 3 (a KRaft quorum of every node)", o.Brokers)
	}
	if o.StartTimeout < 0 {
		return o, fmt.Errorf("kafkatest: StartTimeout = %s: want > 0", o.StartTimeout)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = defaultStartTimeout
	}
	return o, nil
}

// key identifies the clusters Shared may hand to two callers: the same
// options give the same cluster.
func (o Options) key() string {
	keys := make([]string, 0, len(o.Config))
	for k := range o.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "brokers=%d compaction=%t autocreate=%t libs=%s", o.Brokers, o.FastCompaction, o.AutoCreateTopics, o.LibsDir)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, o.Config[k])
	}
	return b.String()
}

// replicationSettings are the broker defaults that depend on the cluster
// size. With three nodes a topic is written to all of them and survives
// one node down (min.insync.replicas 2 with acks=all), which is what the
// failure tests rely on; with one node everything is 1 or nothing could be
// written.
func replicationSettings(brokers int) map[string]string {
	rf, isr := "1", "1"
	if brokers >= 3 {
		rf, isr = "3", "2"
	}
	return map[string]string{
		"default.replication.factor":                       rf,
		"min.insync.replicas":                              isr,
		"offsets.topic.replication.factor":                 rf,
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    isr,
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            isr,
	}
}

// fastCompactionSettings make the cleaner run within about a second of a
// segment becoming eligible.
var fastCompactionSettings = map[string]string{
	"log.cleaner.backoff.ms":            "100",
	"log.cleaner.min.cleanable.ratio":   "0.01",
	"log.cleaner.min.compaction.lag.ms": "0",
	"log.cleaner.delete.retention.ms":   "1000",
	"log.roll.ms":                       "1000",
	"log.segment.bytes":                 "1048576", // the smallest Kafka 4 accepts
	"log.segment.delete.delay.ms":       "1000",
	"log.retention.check.interval.ms":   "1000",
}
