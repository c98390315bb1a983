package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binary links neither the sandbox nor the embedded broker:
// they are for tests and cmd/demo only.
func TestProductionBinaryLinksNoSandboxOrEmbeddedBroker(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/connector/sandbox", "/streams/embedded", "/pkg/kfake", "/connector/demo", "/internal/kafkatest", "/internal/e2etest"} {
			if strings.Contains(pkg, banned) {
				t.Errorf("cmd/connector links %s", pkg)
			}
		}
	}
}
