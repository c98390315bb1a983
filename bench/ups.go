package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/schemas"
)

// upsPipeline is one of the four ups sinks: one per collection, as a user
// of all four runs them, sharing one pacer.
type upsPipeline struct {
	name, topic string
	coll        schemas.Collection
	extra       string // keys of its ups section
}

var upsPipelines = []upsPipeline{
	{"ups-attributes", "profiles.attributes", schemas.UserAttributes, ""},
	{"ups-segments", "profiles.segments", schemas.Segments, "      site_id: 608\n"},
	{"ups-linking", "profiles.linking", schemas.UserLinking, "      linking_type: grouped\n"},
	{"ups-preferences", "profiles.preferences", schemas.UserPreferences, ""},
}

// runUPSUnlimited drains n updates, a quarter in each collection's topic,
// into a sandbox UPS with its rate limit lifted (the payload limits stay),
// the connector running with the defaults users get but an unlimited
// updates_per_second.
func (h *Harness) runUPSUnlimited(ctx context.Context, n int) (Drain, error) {
	var topics []string
	committed := map[string]string{}
	for _, p := range upsPipelines {
		topics = append(topics, p.topic)
		committed["connector-"+p.name] = p.topic
	}
	// BENCH_UPS_PROFILE names a directory for CPU profiles of the drain:
	// the sandbox's whole run (sandbox.pprof) and the connector's
	// (connector.pprof, profileSeconds from the first accepted request).
	profDir := os.Getenv("BENCH_UPS_PROFILE")
	sandboxArgs := []string{"-ups-updates-per-second", "-1"}
	httpExtra := ""
	if profDir != "" {
		sandboxArgs = append(sandboxArgs, "-cpuprofile", filepath.Join(profDir, "sandbox.pprof"))
		httpExtra = "  pprof: true\n"
	}
	c, err := startCluster(ctx, h.bin, 4, topics, sandboxArgs...)
	if err != nil {
		return Drain{}, err
	}
	defer c.close()
	perCollection := n / 4
	t0 := time.Now()
	for _, p := range upsPipelines {
		// Four users per update: mostly distinct users, as a backlog of
		// profile changes is.
		g := demo.NewUPSTraffic(7, 4*perCollection, p.coll)
		g.InvalidShare = 0
		if _, err := produce(ctx, c.brokerAddr, p.topic, perCollection, func() ([]byte, []byte) {
			k, v, _ := g.Next()
			return k, v
		}); err != nil {
			return Drain{}, err
		}
	}
	h.logf("  produced %d updates in %.1fs", 4*perCollection, time.Since(t0).Seconds())
	dir, err := os.MkdirTemp(h.dir, "ups-")
	if err != nil {
		return Drain{}, err
	}
	p, ops, err := startConnector(ctx, h.bin, dir, httpExtra, upsConfig(c))
	if err != nil {
		return Drain{}, err
	}
	defer p.Kill()
	// The other two processes' CPU over the same window: the three share
	// the machine, so what the sandbox and the broker spend per record
	// bounds the rate as much as the connector's own cost.
	var sb0, br0 Usage
	var profiled chan error
	started := func() {
		sb0, _ = c.sandbox.Usage()
		br0, _ = c.broker.Usage()
		if profDir != "" {
			profiled = make(chan error, 1)
			go func() {
				profiled <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ops, 3), filepath.Join(profDir, "connector.pprof"))
			}()
		}
	}
	d, err := drain(ctx, drainSpec{
		proc:  p,
		total: int64(4 * perCollection),
		// The sink coalesces a user's updates, so the sandbox's record
		// count is no measure of progress: the window opens at the first
		// accepted request and closes when every offset is committed. The
		// first request's records count in the window (at most 1000 of
		// the backlog).
		begun: func(ctx context.Context) (bool, int64, error) {
			st, err := c.ups(ctx)
			return st.Accepted > 0, 0, err
		},
		finished: allCommitted(c.brokerAddr, committed),
		timeout:  h.drainTimeout(n, 5000),
		started:  started,
	})
	if err != nil {
		return Drain{}, err
	}
	sb1, err1 := c.sandbox.Usage()
	br1, err2 := c.broker.Usage()
	if err1 == nil && err2 == nil {
		per := func(a, b Usage) float64 { return float64((b.CPU - a.CPU).Microseconds()) / float64(d.Records) }
		h.logf("  over the window: sandbox %.1f µs/record (%.0f%% of a core, peak RSS %.1f MB), broker %.1f µs/record (%.0f%% of a core)",
			per(sb0, sb1), 100*(sb1.CPU-sb0.CPU).Seconds()/d.Wall.Seconds(), mb(sb1.PeakRSS), per(br0, br1), 100*(br1.CPU-br0.CPU).Seconds()/d.Wall.Seconds())
	}
	if profiled != nil {
		if err := <-profiled; err != nil {
			h.logf("  connector profile: %v", err)
		}
	}
	if st, err := c.ups(ctx); err == nil {
		h.logf("  sandbox UPS: %d requests, %d accepted, %d 429, mean %.0f records / %.0f bytes per request",
			st.Requests, st.Accepted, st.Throttled429, st.MeanFillRecords, st.MeanBodyBytes)
	}
	return d, p.Stop(30 * time.Second)
}

func upsConfig(c *cluster) string {
	var sinks strings.Builder
	for _, p := range upsPipelines {
		fmt.Fprintf(&sinks, "  - name: %s\n    type: ups\n    topics: [%s]\n    ups:\n      collection: %s\n%s", p.name, p.topic, p.coll, p.extra)
	}
	return connectorConfig(c, sandbox.UPSSection(c.sandboxURL, sandbox.UPSClientSecret)+"  updates_per_second: 100000000\nsinks:\n"+sinks.String())
}
