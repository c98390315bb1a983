package kafkatest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// Environment variables that steer Shared.
const (
	// EnvBrokers names an existing cluster (host:port,...) that Shared
	// returns instead of starting one.
	EnvBrokers = "KAFKA_TEST_BROKERS"
	// EnvSkip set to 1 skips every test that asks Shared for a cluster.
	EnvSkip = "KAFKA_TEST_SKIP"
	// EnvRequire set to 1 turns a missing Java or Maven from a skip into a
	// failure; make test sets it, so CI never passes by skipping.
	EnvRequire = "REQUIRE_KAFKA"
)

// shared holds the clusters of this test binary, one per distinct
// Options, each started by the first test that asks for it.
var shared struct {
	mu       sync.Mutex
	clusters map[string]*sharedCluster
}

type sharedCluster struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Shared returns the package's one-broker cluster, starting it on first
// use; see SharedWith.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	return SharedWith(t, Options{})
}

// SharedWith returns the test binary's cluster for opts, starting it on
// first use: tests of a package share it, each with its own topics and
// groups (CreateTopic, GroupID), so a package pays for one start per
// cluster shape. Main stops it after the package's tests; a package
// without Main leaves that to the parent-death signal.
//
// It skips the test when KAFKA_TEST_SKIP=1, or when Java or Maven are
// missing unless REQUIRE_KAFKA=1, which makes that a failure. With
// KAFKA_TEST_BROKERS set it returns that cluster instead, for any opts
// (the test is skipped when it has fewer brokers than opts.Brokers); see
// Cluster.External for what such a cluster cannot do.
func SharedWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if os.Getenv(EnvSkip) == "1" {
		t.Skipf("kafkatest: %s=1", EnvSkip)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	key := opts.key()
	if addrs := os.Getenv(EnvBrokers); addrs != "" {
		key = EnvBrokers
	}

	shared.mu.Lock()
	if shared.clusters == nil {
		shared.clusters = map[string]*sharedCluster{}
	}
	s := shared.clusters[key]
	if s == nil {
		s = &sharedCluster{}
		shared.clusters[key] = s
	}
	shared.mu.Unlock()

	s.once.Do(func() {
		if addrs := os.Getenv(EnvBrokers); addrs != "" {
			s.c, s.err = connectExternal(strings.Split(addrs, ","))
			return
		}
		s.c, s.err = Start(opts)
	})
	switch {
	case errors.Is(s.err, ErrUnavailable) && os.Getenv(EnvRequire) != "1":
		t.Skipf("%v (set %s=1 to fail instead)", s.err, EnvRequire)
	case s.err != nil:
		t.Fatal(s.err)
	}
	if s.c.External() && s.c.Brokers() < opts.Brokers {
		t.Skipf("kafkatest: %s has %d brokers, the test needs %d", EnvBrokers, s.c.Brokers(), opts.Brokers)
	}
	t.Cleanup(func() {
		if t.Failed() && !s.c.External() {
			t.Logf("kafkatest: broker logs in %s/node-*/server.log", s.c.Dir())
		}
	})
	return s.c
}

// Main runs the package's tests, then the package's own cleanups (files
// made once for every test, such as a built binary), and then stops its
// shared clusters, keeping their directories (and printing where) when a
// test failed. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { kafkatest.Main(m) }
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	shared.mu.Lock()
	for _, s := range shared.clusters {
		if s.c == nil || s.c.External() {
			continue
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "kafkatest: tests failed; broker logs kept in %s\n", s.c.Dir())
		}
		_ = s.c.close(code == 0)
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// connectExternal describes the cluster at addrs without starting
// anything; it fails when none of them answers.
func connectExternal(addrs []string) (*Cluster, error) {
	for i := range addrs {
		addrs[i] = strings.TrimSpace(addrs[i])
	}
	c := &Cluster{external: addrs}
	res, err := c.askMetadata([]string{})
	if err != nil {
		return nil, fmt.Errorf("kafkatest: %s=%s: %w", EnvBrokers, strings.Join(addrs, ","), err)
	}
	c.opts.Brokers = len(res.Brokers)
	return c, nil
}
