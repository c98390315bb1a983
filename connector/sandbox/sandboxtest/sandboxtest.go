// Package sandboxtest starts the sandbox for a test: the one way the tests
// of every package that talks to the sandbox's APIs do it. It is for tests
// only.
package sandboxtest

import (
	"testing"

	"github.com/contactlab/connector/connector/sandbox"
)

// Start serves the sandbox on a free loopback port until the test
// ends, with its default config changed by mutate (nil for none).
// Processes and services started after it are stopped before it
// (cleanups run last first).
func Start(t testing.TB, mutate func(*sandbox.Config)) *sandbox.Sandbox {
	t.Helper()
	cfg := sandbox.DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	sb, err := sandbox.Start("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return sb
}
