package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// goBench runs the benchmarks of pkg whose names match pattern once each
// (-benchtime 1x: each does a fixed amount of work whatever b.N is) in one
// go test process, and returns their reported figures by benchmark name
// (without the -GOMAXPROCS suffix) and unit. These are the behaviours
// measured in process: pacing under a rate limit, the update-stream
// source against raw kafka-go.
func goBench(ctx context.Context, pkg, pattern string) (map[string]map[string]float64, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pattern, "-benchtime", "1x", "-timeout", "10m", pkg)
	// The UPS rate is a mean over its window: 30 s of it is as telling as
	// the benchmark's default 60 s, and keeps make bench in its budget.
	cmd.Env = os.Environ()
	if os.Getenv("UPS_BENCH_SECONDS") == "" {
		cmd.Env = append(cmd.Env, "UPS_BENCH_SECONDS=30")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %w\n%s%s", pattern, pkg, err, out, stderr.Bytes())
	}
	return parseBench(out), nil
}

// parseBench reads `go test -bench` output: "BenchmarkX-2  1  123 ns/op
// 4.5 unit ...".
func parseBench(out []byte) map[string]map[string]float64 {
	figures := map[string]map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		m := figures[name]
		if m == nil {
			m = map[string]float64{}
			figures[name] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
	}
	return figures
}
