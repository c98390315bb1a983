package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
)

const (
	eventsTopic = "web.events"
	eventsGroup = "connector-events" // the default group of a sink named events
	// eventsPartitions: enough partitions that ordering per partition never
	// caps the concurrency swept.
	eventsPartitions = 8
)

// eventsRun is one drain of a backlog of Contacthub events: by the connector
// with its defaults (concurrency 0) or a fixed concurrency, or by the floor.
type eventsRun struct {
	n           int
	latency     time.Duration
	concurrency int // 0: the connector's default; the floor needs one
	floor       bool
	// profileDir, when set, enables http.pprof on the connector and writes
	// a CPU profile of profileSeconds from the first accepted record, and
	// the allocation profile of the whole run, there.
	profileDir     string
	profileSeconds int
}

func (r eventsRun) String() string {
	who := "connector"
	if r.floor {
		who = "floor"
	}
	c := "default concurrency"
	if r.concurrency > 0 {
		c = "concurrency " + strconv.Itoa(r.concurrency)
	}
	return fmt.Sprintf("%s: %d events, %s latency, %s", who, r.n, r.latency, c)
}

// runEvents starts a broker and a sandbox answering Contacthub events in
// r.latency with no throttling, produces the backlog, and measures the
// connector (or the floor) draining it.
func (h *Harness) runEvents(ctx context.Context, r eventsRun) (Drain, error) {
	c, err := startCluster(ctx, h.bin, eventsPartitions, []string{eventsTopic}, "-latency", r.latency.String(), "-max-requests-per-minute", "0")
	if err != nil {
		return Drain{}, err
	}
	defer c.close()
	g := demo.NewEventTraffic(42, 500, sandbox.NodeID)
	g.InvalidShare = 0
	took, err := produce(ctx, c.brokerAddr, eventsTopic, r.n, func() ([]byte, []byte) {
		k, v, _ := g.Next()
		return k, v
	})
	if err != nil {
		return Drain{}, err
	}
	h.logf("  produced %d events in %.1fs", r.n, took.Seconds())

	var p *Proc
	var ops string
	if r.floor {
		p, err = start("floor", h.bin.Floor, "-broker", c.brokerAddr, "-topic", eventsTopic, "-group", eventsGroup,
			"-url", c.sandboxURL+sandbox.ContacthubPrefix+"/workspaces/"+sandbox.WorkspaceID+"/events",
			"-token", sandbox.ContacthubToken, "-concurrency", strconv.Itoa(r.concurrency))
	} else {
		dir, derr := os.MkdirTemp(h.dir, "events-")
		if derr != nil {
			return Drain{}, derr
		}
		var httpExtra string
		if r.profileDir != "" {
			httpExtra = "  pprof: true\n"
		}
		p, ops, err = startConnector(ctx, h.bin, dir, httpExtra, eventsConfig(c, r.concurrency))
	}
	if err != nil {
		return Drain{}, err
	}
	defer p.Kill()

	committed := allCommitted(c.brokerAddr, map[string]string{eventsGroup: eventsTopic})
	var cpuProfile chan error
	d, err := drain(ctx, drainSpec{
		proc:  p,
		total: int64(r.n),
		begun: func(ctx context.Context) (bool, int64, error) {
			n, err := c.contacthubAccepted(ctx)
			return n > 0, n, err
		},
		finished: func(ctx context.Context) (bool, string, error) {
			n, err := c.contacthubAccepted(ctx)
			if err != nil || n < int64(r.n) {
				return false, fmt.Sprintf("%d of %d accepted", n, r.n), err
			}
			return committed(ctx)
		},
		timeout: h.drainTimeout(r.n, 2000),
		started: func() {
			if r.profileDir != "" {
				cpuProfile = make(chan error, 1)
				go func() {
					cpuProfile <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ops, r.profileSeconds), filepath.Join(r.profileDir, "cpu.pprof"))
				}()
			}
		},
	})
	if err != nil {
		return Drain{}, err
	}
	if r.profileDir != "" {
		if err := fetch(ctx, "http://"+ops+"/debug/pprof/allocs", filepath.Join(r.profileDir, "allocs.pprof")); err != nil {
			return Drain{}, err
		}
		if err := <-cpuProfile; err != nil {
			return Drain{}, err
		}
	}
	return d, p.Stop(30 * time.Second)
}

// eventsConfig is the connector's config of one contacthub-events sink: the
// defaults users get, but for concurrency when it is > 0.
func eventsConfig(c *cluster, concurrency int) string {
	var conc string
	if concurrency > 0 {
		conc = fmt.Sprintf("    concurrency: %d\n", concurrency)
	}
	return connectorConfig(c, sandbox.ContacthubSection(c.sandboxURL)+fmt.Sprintf(`sinks:
  - name: events
    type: contacthub-events
    topics: [%s]
%s`, eventsTopic, conc))
}
