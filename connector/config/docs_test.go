package config_test

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/contactlab/connector/connector/config"
)

var (
	yamlBlockRE = regexp.MustCompile("(?s)```yaml\n(.*?)```")
	yamlFenceRE = regexp.MustCompile("(?mi)```\\s*ya?ml")
)

// Every YAML example of the README loads: each is a part of a config, so it
// replaces the top-level keys it has in testdata/full.yaml, and the whole
// must parse. An example that drifts from the code (a key renamed or moved)
// fails here.
func TestReadmeExamplesLoad(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlockRE.FindAllSubmatch(readme, -1)
	if len(blocks) < 4 {
		t.Fatalf("only %d yaml blocks in the README", len(blocks))
	}
	// A block fenced another way (```yml, ```YAML, indented) would be
	// skipped silently: every fence that says YAML must be one matched.
	if fences := yamlFenceRE.FindAll(readme, -1); len(fences) != len(blocks) {
		t.Fatalf("%d fences say YAML but %d blocks are checked: fence them as ```yaml at the start of a line", len(fences), len(blocks))
	}
	// The EnableNow block once failed (enablenow.idempotency_window was
	// not a key): it must stay among those checked.
	enablenow := false
	for _, b := range blocks {
		enablenow = enablenow || bytes.Contains(b[1], []byte("type: enablenow")) && bytes.Contains(b[1], []byte("idempotency_window:"))
	}
	if !enablenow {
		t.Fatal("the README's EnableNow block (with idempotency_window) is not among the checked blocks")
	}
	for i, b := range blocks {
		var base, part map[string]any
		if err := yaml.Unmarshal([]byte(full(t)), &base); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b[1], &part); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		for k, v := range part {
			base[k] = v
		}
		doc, err := yaml.Marshal(base)
		if err != nil {
			t.Fatal(err)
		}
		every := func(name string) (string, bool) { return "x-" + name, true }
		if _, err := config.Parse(doc, every); err != nil {
			t.Errorf("README yaml block %d does not load: %v\n%s", i, err, b[1])
		}
	}
}
