package kafkatest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyTestsImportIt guards the package's one rule of use: it starts
// JVMs and fails tests, so no package of the module may import it outside
// its _test.go files (go list's Imports leave those out).
func TestOnlyTestsImportIt(t *testing.T) {
	const self = "github.com/contactlab/connector/internal/kafkatest"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "github.com/contactlab/connector/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if imp == self {
				t.Errorf("%s imports %s outside its tests", fields[0], self)
			}
		}
	}
}
