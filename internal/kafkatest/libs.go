package kafkatest

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// findJava returns $JAVA_HOME/bin/java, or java from PATH.
func findJava() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		java := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(java); err == nil {
			return java, nil
		}
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w: no java on PATH (Kafka 4 needs Java 17+; 'make tools' installs openjdk-17-jre-headless)", ErrUnavailable)
	}
	return java, nil
}

// fetchTimeout bounds deploy/kafka/fetch.sh: Maven downloading ~45MB of
// jars on a slow line.
const fetchTimeout = 15 * time.Minute

// fetchLibs runs deploy/kafka/fetch.sh, which prints the directory of the
// Kafka jars and fetches them with Maven first when they are not cached.
func fetchLibs(ctx context.Context) (string, error) {
	script, err := fetchScript()
	if err != nil {
		if dir := os.Getenv("KAFKA_LIBS_DIR"); dir != "" {
			return dir, nil
		}
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) && exit.ExitCode() == 3 {
		return "", fmt.Errorf("%w: %s", ErrUnavailable, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return "", fmt.Errorf("kafkatest: %s: %w\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1], nil
}

// fetchScript finds deploy/kafka/fetch.sh above the working directory,
// which go test sets to the package's directory.
func fetchScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kafkatest: %w", err)
	}
	for {
		script := filepath.Join(dir, "deploy", "kafka", "fetch.sh")
		if _, err := os.Stat(script); err == nil {
			return script, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no deploy/kafka/fetch.sh above the working directory and KAFKA_LIBS_DIR is not set", ErrUnavailable)
		}
		dir = parent
	}
}

// findClass returns the first of classes that one of the jars in libs
// holds, so the harness follows a class that moves between versions.
func findClass(libs string, classes ...string) (string, error) {
	jars, err := filepath.Glob(filepath.Join(libs, "*.jar"))
	if err != nil || len(jars) == 0 {
		return "", fmt.Errorf("kafkatest: no jars in %s (run deploy/kafka/fetch.sh)", libs)
	}
	present := map[string]bool{}
	for _, jar := range jars {
		z, err := zip.OpenReader(jar)
		if err != nil {
			return "", fmt.Errorf("kafkatest: %w", err)
		}
		for _, f := range z.File {
			present[f.Name] = true
		}
		z.Close()
	}
	for _, class := range classes {
		if present[strings.ReplaceAll(class, ".", "/")+".class"] {
			return class, nil
		}
	}
	return "", fmt.Errorf("kafkatest: none of %v in the jars of %s", classes, libs)
}

// tail returns the last n lines of the file at path, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
