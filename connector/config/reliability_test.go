package config_test

import (
	"strings"
	"testing"

	"github.com/contactlab/connector/connector/config"
)

// Values yaml would take silently but the connector cannot work with; each
// was accepted before and is now named with its reason. All in one run.
func TestValidateRefusesEveryImpossibleValueInOneRun(t *testing.T) {
	doc := edit(t,
		`brokers: ["localhost:9092"]`, "brokers: [\"localhost:9092\"]\n  partitions: -2",
		"token: t\nups:", "token: t\n  timeout: 1ns\nups:",
		"    topics: [web.events]\n", "    topics: [web.events]\n    shutdown_grace: -5s\n    batch: {linger: -1ms}\n    retry: {max: -1s}\n    max_in_flight: 1.5\n",
	) + "http:\n  listen: \"localhost:99999\"\n"
	_, err := config.Parse([]byte(doc), noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"kafka.partitions: -2 is not in 1..10000",
		"contacthub.timeout: 1ns is shorter than 100ms",
		"sinks[0].shutdown_grace: -5s is negative", // would drop in-flight records at SIGTERM
		"sinks[0].batch.linger: -1ms is negative",
		"sinks[0].retry.max: -1s is negative",
		"sinks[0].max_in_flight: 1.5 is not a whole number", // was cut to 1
		`http.listen: port "99999" is not a number in 0..65535`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// Two sinks reading one topic in one group split its records: each sees
// only some. Refused whatever the types.
func TestValidateRefusesSharedGroups(t *testing.T) {
	for _, tc := range []struct{ name, second string }{
		{"same type", "  - name: events2\n    type: contacthub-events\n    topics: [web.events]\n    group_id: connector-events\n"},
		{"other type", "  - name: cat2\n    type: enablenow\n    topics: [web.events]\n    group_id: connector-events\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(base, "sources:", tc.second+"sources:", 1)
			_, err := config.Parse([]byte(doc), noEnv)
			if err == nil || !strings.Contains(err.Error(), `group_id: "connector-events" also reads topic web.events for sink "events"`) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestValidateKafkaSecurity(t *testing.T) {
	for _, tc := range []struct{ name, kafka, want string }{
		{"unknown mechanism", "  sasl: {mechanism: GSSAPI, username: u, password: p}\n  tls: {enabled: true}\n", `kafka.sasl.mechanism: "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"no password", "  sasl: {mechanism: SCRAM-SHA-512, username: u}\n", "kafka.sasl.password: must be set"},
		{"plain in the clear", "  sasl: {mechanism: PLAIN, username: u, password: p}\n", "PLAIN sends the password in the clear"},
		{"half a key pair", "  tls: {enabled: true, cert_file: /etc/hostname}\n", "kafka.tls.cert_file: give cert_file and key_file together"},
		{"missing ca file", "  tls: {enabled: true, ca_file: /nonexistent/ca.pem}\n", "kafka.tls.ca_file: stat /nonexistent/ca.pem"},
		{"tls keys without tls", "  tls: {ca_file: /etc/hostname}\n", "kafka.tls.enabled: must be true"},
		{"acks", "  acks: \"2\"\n", `kafka.acks: "2" is not one of all, 1, 0`},
		{"min isr above rf", "  replication_factor: 1\n  min_insync_replicas: 2\n", "kafka.min_insync_replicas: 2 exceeds kafka.replication_factor 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(base, "  brokers: [\"localhost:9092\"]\n", "  brokers: [\"localhost:9092\"]\n"+tc.kafka, 1)
			_, err := config.Parse([]byte(doc), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// A good secure section, and the password never printed.
	doc := strings.Replace(base, "  brokers: [\"localhost:9092\"]\n", "  brokers: [\"localhost:9092\"]\n  tls: {enabled: true}\n  sasl: {mechanism: SCRAM-SHA-512, username: u, password: hunter2}\n", 1)
	c, err := config.Parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL.Password.Value() != "hunter2" || strings.Contains(strings.Join([]string{c.Kafka.SASL.Password.String()}, ""), "hunter2") {
		t.Fatal("password not kept, or printed")
	}
}
func noEnv(string) (string, bool) { return "", false }
