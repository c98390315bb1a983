package service_test

import (
	"fmt"
	"testing"

	"github.com/contactlab/connector/connector/config"
)

// The group timeouts of the pipeline tests' configs (the kafka keys of
// testConfig): short, so that a group settles, and a killed member's
// partitions move, within the tests' deadlines.
const (
	groupTimeouts      = "  session_timeout: 2s\n  heartbeat_interval: 200ms\n"
	shortGroupTimeouts = "  session_timeout: 1s\n  heartbeat_interval: 100ms\n"
)

// noEnv is the environment the tests' configs are expanded with: none, so
// that nothing of the machine running the tests leaks into them.
func noEnv(string) (string, bool) { return "", false }

// parseConfig parses doc, failing the test (with the document) if it is
// not a valid config.
func parseConfig(t testing.TB, doc string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return c
}

// testConfig is a pipeline test's config: kafka on broker with kafkaKeys
// (indented for the kafka section), the ops server on a free port,
// warnings only, then rest: the API sections, sinks and sources.
func testConfig(t testing.TB, broker, kafkaKeys, rest string) *config.Config {
	t.Helper()
	return parseConfig(t, fmt.Sprintf(`
kafka:
  brokers: [%q]
%shttp:
  listen: "127.0.0.1:0"
log:
  level: warn
`, broker, kafkaKeys)+rest)
}
