package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/internal/e2etest"
	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// securePipelines are the names of one run of every pipeline: an events
// sink, a UPS sink, an EnableNow sink and the update-stream source.
type securePipelines struct {
	events, ups, requests                     string // input topics, made by the test
	eventsDLQ, upsResults, enableNowResults   string
	customers, changes, offsets, sourceGroups string
	groups                                    [3]string // events, ups, enablenow
}

func newSecurePipelines(t *testing.T, c *kafkatest.Cluster) securePipelines {
	name := func(kind string) string { return kafkatest.UniqueName(t, kind) }
	return securePipelines{
		events:           replicatedTopic(t, c, "web.events", 3),
		ups:              replicatedTopic(t, c, "profiles.segments", 3),
		requests:         replicatedTopic(t, c, "categorization.requests", 3),
		eventsDLQ:        name("events.dlq"),
		upsResults:       name("segments.results"),
		enableNowResults: name("categorize.results"),
		customers:        name("customers"),
		changes:          name("changes"),
		offsets:          name("offsets"),
		sourceGroups:     name("source-group"),
		groups:           [3]string{name("events-group"), name("ups-group"), name("enablenow-group")},
	}
}

// config is the part of the connector's config after the kafka section:
// the APIs of sb and the four pipelines.
func (n securePipelines) config(sb *sandbox.Sandbox) string {
	return fmt.Sprintf(`%s%s  status_poll_interval: 50ms
%ssinks:
  - name: events
    type: contacthub-events
    topics: [%s]
    group_id: %s
    dead_letter_topic: %s
  - name: segments
    type: ups
    topics: [%s]
    group_id: %s
    ups: {collection: rr-segments, results_topic: %s}
  - name: categorize
    type: enablenow
    topics: [%s]
    group_id: %s
    enablenow: {results_topic: %s}
%s`, sandbox.ContacthubSection(sb.URL()),
		sandbox.UPSSection(sb.URL(), sandbox.UPSClientSecret),
		sandbox.EnableNowSection(sb.URL()),
		n.events, n.groups[0], n.eventsDLQ,
		n.ups, n.groups[1], n.upsResults,
		n.requests, n.groups[2], n.enableNowResults,
		updatesSource(n.customers, n.changes, n.offsets, n.sourceGroups))
}

// secureKafka is a kafka section for the SASL_SSL listener.
func secureKafka(c *kafkatest.Cluster, password, caFile string) string {
	return replicatedKafka(c.SecureBootstrap()) + fmt.Sprintf(`  client_id: connector-e2e
  tls:
    enabled: true
    ca_file: %s
  sasl:
    mechanism: SCRAM-SHA-512
    username: %s
    password: %q
`, caFile, c.Users().SCRAM.Name, password)
}

// TestSASLSSL runs every pipeline over SASL_SSL with SCRAM-SHA-512 and the
// cluster's CA: each delivers everything, and kcat (librdkafka) reads the
// topics the connector wrote over the same listener.
func TestSASLSSL(t *testing.T) {
	c, bin, sb := onKafka(t, nil)
	kcatBin := kcat(t)
	n := newSecurePipelines(t, c)
	plain := c.Bootstrap()[0] // the test's own reads and writes

	// Events, a few of them invalid; UPS updates, keyed by user; requests.
	msgs, good, bad := e2etest.Events(3, 1000, 20)
	streamstest.Produce(t, plain, n.events, msgs...)
	msgs, last := e2etest.UPSUpdates(t, 5, 500, schemas.Segments, 2000)
	streamstest.Produce(t, plain, n.ups, msgs...)
	const requests = 300
	streamstest.Produce(t, plain, n.requests, e2etest.ValidCategorizationRequests(9, requests)...)
	sb.Contacthub.AppendUpdates(3000)
	lastOffset := sb.Contacthub.LastOffset()

	os.Setenv("E2E_KAFKA_PASSWORD", c.Users().SCRAM.Password)
	cfgPath := writeConfigFile(t, secureKafka(c, "${E2E_KAFKA_PASSWORD}", c.CAFile()), n.config(sb))
	p := start(t, bin, "run", "-config", cfgPath)
	testkit.WaitFor(t, 2*time.Minute, "every pipeline caught up", func() (bool, string) {
		for i, topic := range []string{n.events, n.ups, n.requests} {
			if ok, why := streamstest.CaughtUp(t, plain, n.groups[i], topic); !ok {
				return false, topic + ": " + why
			}
		}
		seen := offsetsPublished(t, plain, n.customers, n.changes)
		return int64(len(seen)) >= lastOffset, fmt.Sprintf("source: %d of %d offsets", len(seen), lastOffset)
	})
	waitReady(t, p, 30*time.Second)

	e2etest.RequireAccepted(t, sb, good, "event %d never reached Contacthub: %s")
	e2etest.RequireStored(t, sb, schemas.Segments, last, "UPS user %s holds %s, want %s")
	for _, m := range streamstest.ReadAll(t, plain, n.requests) {
		if k := enablenow.IdempotencyKey(m.Topic, m.Partition, m.Offset, m.Key, m.Value); sb.EnableNow.JobsFor(k) != 1 {
			t.Fatalf("request %d@%d made %d jobs, want 1", m.Partition, m.Offset, sb.EnableNow.JobsFor(k))
		}
	}

	// An outside client reads what the connector wrote, over SASL_SSL.
	mechanism, user := kcatSASL(t, kcatBin, c)
	read := func(topic, format string) []string {
		t.Helper()
		cmd := exec.Command(kcatBin, "-b", strings.Join(c.SecureBootstrap(), ","),
			"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms="+mechanism,
			"-X", "sasl.username="+user.Name, "-X", "sasl.password="+user.Password,
			"-X", "ssl.ca.location="+c.CAFile(),
			"-C", "-t", topic, "-e", "-q", "-f", format)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("kcat over SASL_SSL, topic %s: %v\n%s", topic, err, stderr)
		}
		return strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })
	}
	dl := read(n.eventsDLQ, "%h\n")
	for _, h := range dl {
		if !strings.Contains(h, streams.HeaderDLQReason+"=invalid") {
			t.Fatalf("kcat read a dead letter without its reason: %s", h)
		}
	}
	if len(dl) < len(bad) {
		t.Fatalf("kcat read %d dead letters, want %d", len(dl), len(bad))
	}
	if got, want := len(read(n.enableNowResults, "%k\n")), requests; got < want {
		t.Fatalf("kcat read %d EnableNow results, want at least %d", got, want)
	}
	if got := len(read(n.upsResults, "%k\n")); got == 0 {
		t.Fatal("kcat read no UPS job result")
	}
	if got, want := len(read(n.customers, "%o\n")), len(streamstest.ReadAll(t, plain, n.customers)); got != want {
		t.Fatalf("kcat read %d customer records, the plaintext listener %d", got, want)
	}
	p.stop(t)
	if strings.Contains(p.logText(), c.Users().SCRAM.Password) {
		t.Fatal("the Kafka password appears in the logs")
	}
}

// TestSASLSSLRefused starts the connector with a wrong password, and with
// a CA that did not sign the brokers' certificate, each with the topics
// created at start (the service's path) and without (every pipeline's):
// within 10 s /readyz answers 503 naming a broker and the cause, the log
// says the same, the connector keeps trying without crashing, and nothing
// is consumed or committed.
func TestSASLSSLRefused(t *testing.T) {
	c, bin, sb := onKafka(t, nil)
	otherCA := writeOtherCA(t)

	tests := []struct {
		name              string
		password, caFile  string
		createTopics      bool
		cause, logMessage string
	}{
		{"wrong password, topics created at start", "wrong-password", c.CAFile(), true,
			"SASL Authentication Failed", "creating topics failed; retrying"},
		{"wrong password, pipelines", "wrong-password", c.CAFile(), false,
			"SASL Authentication Failed", "Kafka rejects the connection; not ready"},
		{"unknown CA, topics created at start", c.Users().SCRAM.Password, otherCA, true,
			"certificate signed by unknown authority", "creating topics failed; retrying"},
		{"unknown CA, pipelines", c.Users().SCRAM.Password, otherCA, false,
			"certificate signed by unknown authority", "Kafka rejects the connection; not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newSecurePipelines(t, c)
			plain := c.Bootstrap()[0]
			msgs, _, _ := e2etest.Events(4, 100, 0)
			streamstest.Produce(t, plain, n.events, msgs...)
			before := sb.Contacthub.Stats().Accepted
			kafkaSection := secureKafka(c, tt.password, tt.caFile) + fmt.Sprintf("  create_topics: %t\n", tt.createTopics)
			p := start(t, bin, "run", "-config", writeConfigFile(t, kafkaSection, n.config(sb)))

			started := time.Now()
			var r readiness
			testkit.WaitFor(t, 10*time.Second, "/readyz 503 naming a broker and "+tt.cause, func() (bool, string) {
				if p.opsAddr() == "" {
					return false, "no ops address yet"
				}
				r = askReady(p.opsAddr())
				return r.Code == http.StatusServiceUnavailable && namesBrokerAndCause(r, c.SecureBootstrap(), tt.cause), r.String()
			})
			took := time.Since(started)
			testkit.WaitFor(t, 10*time.Second, "the log to say so", func() (bool, string) {
				return logNames(p.logText(), tt.logMessage, c.SecureBootstrap(), tt.cause), p.logSummary()
			})
			// It keeps trying: some seconds later it runs and says the same.
			attempts := brokerRefusals(t, c)
			testkit.WaitFor(t, 20*time.Second, "the connector to try again", func() (bool, string) {
				n := brokerRefusals(t, c)
				return n > attempts, fmt.Sprintf("%d refusals in the brokers' logs, %d at first", n, attempts)
			})
			p.running(t)
			if r := askReady(p.opsAddr()); r.Code != http.StatusServiceUnavailable || !namesBrokerAndCause(r, c.SecureBootstrap(), tt.cause) {
				t.Fatalf("/readyz changed its mind: %s", r)
			}
			if strings.Contains(p.logText(), "panic") {
				t.Fatalf("the connector panicked:\n%s", p.logText())
			}
			for i, topic := range []string{n.events, n.ups, n.requests} {
				for part, off := range streamstest.Committed(t, plain, n.groups[i], topic) {
					if off >= 0 {
						t.Fatalf("group %s committed %s/%d@%d", n.groups[i], topic, part, off)
					}
				}
			}
			if got := sb.Contacthub.Stats().Accepted; got != before {
				t.Fatalf("Contacthub accepted %d events from a connector Kafka refused", got-before)
			}
			t.Logf("after %s: %s\nlog:\n%s", took.Round(100*time.Millisecond), r, p.logSummary())
			p.stop(t)
		})
	}
}

// kcatSASL is the mechanism and user kcat authenticates with on the
// SASL_SSL listener: SCRAM-SHA-512, like the connector, when its
// librdkafka has SCRAM right for Kafka 4; else PLAIN on the same listener.
// librdkafka before 2.6.1 appends its nonce twice in the SCRAM final
// message, which Kafka 4 brokers refuse (confluentinc/librdkafka#4895,
// edenhill/kcat#462); Debian 12's kcat links librdkafka 2.0.2.
func kcatSASL(t *testing.T, kcatBin string, c *kafkatest.Cluster) (string, kafkatest.User) {
	t.Helper()
	out, _ := exec.Command(kcatBin, "-V").CombinedOutput()
	var major, minor, patch int
	if i := strings.Index(string(out), "librdkafka "); i >= 0 {
		fmt.Sscanf(string(out[i:]), "librdkafka %d.%d.%d", &major, &minor, &patch)
	}
	if major > 2 || major == 2 && (minor > 6 || minor == 6 && patch >= 1) {
		return "SCRAM-SHA-512", c.Users().SCRAM
	}
	t.Logf("kcat links librdkafka %d.%d.%d, whose SCRAM Kafka 4 refuses: it reads over the same SASL_SSL listener with PLAIN", major, minor, patch)
	return "PLAIN", c.Users().Plain
}

// namesBrokerAndCause reports whether a not-ready reason of r names one of
// brokers and the cause.
func namesBrokerAndCause(r readiness, brokers []string, cause string) bool {
	for _, why := range r.NotReady {
		if strings.Contains(why, cause) && containsAny(why, brokers) {
			return true
		}
	}
	return false
}

// logNames reports whether a warning or error line with message msg names
// one of brokers and the cause.
func logNames(logs, msg string, brokers []string, cause string) bool {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"msg":"`+msg) && strings.Contains(line, cause) && containsAny(line, brokers) {
			return true
		}
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// brokerRefusals counts the failed authentications and TLS handshakes the
// brokers logged, which each attempt of the connector adds to.
func brokerRefusals(t *testing.T, c *kafkatest.Cluster) int {
	t.Helper()
	n := 0
	for id := 1; id <= c.Brokers(); id++ {
		b, err := os.ReadFile(filepath.Join(c.Dir(), fmt.Sprintf("node-%d", id), "server.log"))
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), "Failed authentication")
	}
	return n
}

// writeOtherCA writes the certificate of a CA that signed nothing the
// brokers serve.
func writeOtherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "some other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
