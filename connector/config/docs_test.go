package config_test

import (
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/contactlab/connector/connector/config"
)

var yamlBlockRE = regexp.MustCompile("(?s)```yaml\n(.*?)```")

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
