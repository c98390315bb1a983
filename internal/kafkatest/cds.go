package kafkatest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// sharedArchive returns a class-data-sharing archive of the classes a
// broker loads, for this java and these jars, making it the first time by
// starting and gracefully stopping a one-node cluster whose JVM dumps what
// it loaded (JDK 17 has no -XX:+AutoCreateSharedArchive). JVMs that map it
// spend about a third less CPU starting, which is most of a test cluster's
// start on a two-core machine. The archive is cached beside the jars'
// cache, keyed by java and jars.
//
// Any failure returns "", and the JVMs start without an archive, only
// slower; so does KAFKA_TEST_CDS=0. A JVM that finds the archive does not
// match it (another JDK build) ignores it with a warning in stdout.log.
func sharedArchive(java, libs string, timeout time.Duration) string {
	if os.Getenv("KAFKA_TEST_CDS") == "0" {
		return ""
	}
	key, err := archiveKey(java, libs)
	if err != nil {
		return ""
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	dir := filepath.Join(home, ".cache", "contactlab-connector", "cds")
	path := filepath.Join(dir, key+".jsa")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ""
	}
	// Test binaries of several packages may start at once: one makes the
	// archive, the others wait for it.
	unlock, err := lockFile(filepath.Join(dir, key+".lock"))
	if err != nil {
		return ""
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	defer os.Remove(tmp)
	c, err := Start(Options{LibsDir: libs, StartTimeout: timeout, cdsDump: tmp})
	if err != nil {
		return ""
	}
	err = c.Stop(1) // the JVM writes the archive as it exits
	_ = c.Close()
	if err != nil {
		return ""
	}
	if err := os.Rename(tmp, path); err != nil {
		return ""
	}
	return path
}

// archiveKey names an archive by what it depends on: the JVM binary and
// the jars on the class path.
func archiveKey(java, libs string) (string, error) {
	h := sha256.New()
	real, err := filepath.EvalSymlinks(java)
	if err != nil {
		return "", err
	}
	jars, err := filepath.Glob(filepath.Join(libs, "*.jar"))
	if err != nil {
		return "", err
	}
	sort.Strings(jars)
	for _, f := range append([]string{real}, jars...) {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
