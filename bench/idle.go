package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
)

// Idle is one connector process running pipelines that have nothing to
// read, measured over a window after every group settled.
type Idle struct {
	Pipelines int
	Window    time.Duration
	CPU       time.Duration // over the window
	RSS       int64         // at the end of the window
	PeakRSS   int64
}

func (i Idle) String() string {
	return fmt.Sprintf("%d idle pipelines: RSS %.1f MB (peak %.1f MB), CPU %.3fs in %.0fs (%.2f%% of a core)",
		i.Pipelines, mb(i.RSS), mb(i.PeakRSS), i.CPU.Seconds(), i.Window.Seconds(), 100*i.CPU.Seconds()/i.Window.Seconds())
}

// runIdle runs one connector with n contacthub-events pipelines, each on
// its own empty topic, waits until all their groups are stable, and then
// measures the process over window.
func (h *Harness) runIdle(ctx context.Context, n int, window time.Duration) (Idle, error) {
	var topics, groups []string
	var sinks strings.Builder
	for i := range n {
		name := fmt.Sprintf("idle-%03d", i)
		topic := fmt.Sprintf("idle.%03d", i)
		topics = append(topics, topic)
		groups = append(groups, "connector-"+name)
		fmt.Fprintf(&sinks, "  - name: %s\n    type: contacthub-events\n    topics: [%s]\n", name, topic)
	}
	c, err := startCluster(ctx, h.bin, 4, topics)
	if err != nil {
		return Idle{}, err
	}
	defer c.close()
	dir, err := os.MkdirTemp(h.dir, "idle-")
	if err != nil {
		return Idle{}, err
	}
	doc := connectorConfig(c, sandbox.ContacthubSection(c.sandboxURL)+"sinks:\n"+sinks.String())
	// BENCH_IDLE_PROFILE=dir writes a CPU profile of the window of the run
	// with the most pipelines there (idle-cpu.pprof): where idling costs.
	profileDir := os.Getenv("BENCH_IDLE_PROFILE")
	httpExtra := ""
	if profileDir != "" {
		httpExtra = "  pprof: true\n"
	}
	p, ops, err := startConnector(ctx, h.bin, dir, httpExtra, doc)
	if err != nil {
		return Idle{}, err
	}
	defer p.Kill()
	if err := waitFor(ctx, p, 2*time.Minute, 250*time.Millisecond, "every group stable", func(ctx context.Context) (bool, string, error) {
		return groupsStable(ctx, c.brokerAddr, groups)
	}); err != nil {
		return Idle{}, err
	}
	// The first fetches of a fresh group and its first commit loop are
	// start-up, not idling.
	time.Sleep(2 * time.Second)
	u0, err := p.Usage()
	if err != nil {
		return Idle{}, err
	}
	t0 := time.Now()
	var profiled chan error
	if profileDir != "" && n > 1 {
		profiled = make(chan error, 1)
		go func() {
			profiled <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ops, int(window.Seconds())), filepath.Join(profileDir, "idle-cpu.pprof"))
		}()
	}
	time.Sleep(window) // the measurement window itself
	if profiled != nil {
		if err := <-profiled; err != nil {
			return Idle{}, err
		}
	}
	u1, err := p.Usage()
	if err != nil {
		return Idle{}, err
	}
	idle := Idle{Pipelines: n, Window: time.Since(t0), CPU: u1.CPU - u0.CPU, RSS: u1.RSS, PeakRSS: u1.PeakRSS}
	return idle, p.Stop(30 * time.Second)
}
