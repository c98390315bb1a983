package kafkatest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// serverProperties is one node's server.properties: a combined KRaft node
// with three listeners on loopback. PLAINTEXT is what the tests and the
// other brokers use (inter-broker traffic stays plain so a broken TLS
// set-up shows in the clients' test, not as a cluster that never forms);
// SASL_SSL offers SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN over TLS with the
// harness's certificate; CONTROLLER carries the quorum.
func (c *Cluster) serverProperties(n *node) map[string]string {
	voters := make([]string, len(c.nodes))
	for i, v := range c.nodes {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", v.id, v.controllerPort)
	}
	plain := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.plainPort)
	secure := fmt.Sprintf("SASL_SSL://127.0.0.1:%d", n.securePort)
	p := map[string]string{
		"process.roles":                        "broker,controller",
		"node.id":                              strconv.Itoa(n.id),
		"controller.quorum.voters":             strings.Join(voters, ","),
		"listeners":                            fmt.Sprintf("%s,%s,CONTROLLER://127.0.0.1:%d", plain, secure, n.controllerPort),
		"advertised.listeners":                 plain + "," + secure,
		"listener.security.protocol.map":       "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
		"controller.listener.names":            "CONTROLLER",
		"inter.broker.listener.name":           "PLAINTEXT",
		"log.dirs":                             filepath.Join(n.dir, "data"),
		"auto.create.topics.enable":            strconv.FormatBool(c.opts.AutoCreateTopics),
		"num.partitions":                       "1",
		"offsets.topic.num.partitions":         "5",
		"transaction.state.log.num.partitions": "5",
		"group.initial.rebalance.delay.ms":     "0",

		// SASL over TLS. The SCRAM users live in the cluster metadata,
		// written at format time; the PLAIN users are the JAAS entries.
		"sasl.enabled.mechanisms":                               "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.plain.sasl.jaas.config": fmt.Sprintf(
			`org.apache.kafka.common.security.plain.PlainLoginModule required user_%s="%s";`,
			c.users.Plain.Name, c.users.Plain.Password),
		"ssl.keystore.type":              "PEM",
		"ssl.keystore.certificate.chain": string(c.certs.chainPEM),
		"ssl.keystore.key":               string(c.certs.keyPEM),
		"ssl.client.auth":                "none",

		// Failure tests wait on these: a killed node is fenced, and its
		// partitions get a new leader, about three seconds after it died
		// instead of nine; a lost controller is replaced within a second or two.
		"broker.heartbeat.interval.ms":          "500",
		"broker.session.timeout.ms":             "3000",
		"controller.quorum.election.timeout.ms": "1000",
		"controller.quorum.fetch.timeout.ms":    "2000",
		"replica.lag.time.max.ms":               "5000",
		// Tests give consumer groups sessions of a second or two, so that a
		// member's death is noticed at once; brokers refuse sessions under
		// 6s by default (INVALID_SESSION_TIMEOUT at JoinGroup).
		"group.min.session.timeout.ms": "500",

		// A test cluster is idle most of the time: fewer threads and a
		// small cleaner buffer keep three JVMs within a small heap.
		"num.network.threads":                     "2",
		"num.io.threads":                          "2",
		"background.threads":                      "2",
		"num.recovery.threads.per.data.dir":       "1",
		"log.cleaner.threads":                     "1",
		"log.cleaner.dedupe.buffer.size":          "8388608",
		"log.flush.offset.checkpoint.interval.ms": "5000",
	}
	maps.Copy(p, replicationSettings(len(c.nodes)))
	if c.opts.FastCompaction {
		maps.Copy(p, fastCompactionSettings)
	}
	maps.Copy(p, c.opts.Config)
	return p
}

// writeProperties writes p as a Java properties file, keys sorted so two
// runs can be diffed.
func writeProperties(path string, p map[string]string) error {
	var b strings.Builder
	b.WriteString("# written by internal/kafkatest\n")
	for _, k := range slices.Sorted(maps.Keys(p)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(escapeProperty(p[k]))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("kafkatest: write %s: %w", path, err)
	}
	return nil
}

// escapeProperty makes v one logical line of a properties file that Java
// reads back as v: the PEM values span lines.
func escapeProperty(v string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)
	v = r.Replace(v)
	if strings.HasPrefix(v, " ") {
		v = `\` + v // a leading blank would be dropped
	}
	return v
}

// log4jConfig sends a node's log to server.log in its directory (the
// kafka.logs.dir system property), appending across restarts.
const log4jConfig = `status = warn
name = kafkatest
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
`
