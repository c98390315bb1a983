package testkit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with the golden file at path, which pins a wire
// format. With update (the -update flag of the calling package: the flag
// stays there, so that no two packages' tests register it twice) it first
// rewrites the file with got, for a deliberate change of the format.
// A difference fails the test but lets it go on, so one run reports every
// golden file a change touched.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; run with -update if the change is deliberate\n got: %.2000s\nwant: %.2000s", path, got, want)
	}
}
