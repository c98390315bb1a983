package bench

import (
	"context"
	"fmt"
	"os"
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
	c, err := startCluster(ctx, h.bin, 4, topics, "-ups-updates-per-second", "-1")
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
	p, _, err := startConnector(ctx, h.bin, dir, "", upsConfig(c))
	if err != nil {
		return Drain{}, err
	}
	defer p.Kill()
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
	})
	if err != nil {
		return Drain{}, err
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
