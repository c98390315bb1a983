package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/streams"
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
	// orders, when set, drains the e-commerce example's OrderPlaced events
	// instead of the demo's Contacthub events: through its completedOrder
	// mapping (ordersMapped), or already mapped by the harness and sent
	// without one (ordersPremapped), the same events either way.
	orders ordersTraffic
}

type ordersTraffic int

const (
	noOrders ordersTraffic = iota
	ordersMapped
	ordersPremapped
)

func (r eventsRun) String() string {
	who := "connector"
	if r.floor {
		who = "floor"
	}
	c := "default concurrency"
	if r.concurrency > 0 {
		c = "concurrency " + strconv.Itoa(r.concurrency)
	}
	what := "events"
	switch r.orders {
	case ordersMapped:
		what = "OrderPlaced events through the completedOrder mapping"
	case ordersPremapped:
		what = "completedOrder events mapped beforehand"
	}
	return fmt.Sprintf("%s: %d %s, %s latency, %s", who, r.n, what, r.latency, c)
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
	next, err := eventsTraffic(r.orders)
	if err != nil {
		return Drain{}, err
	}
	took, err := produce(ctx, c.brokerAddr, eventsTopic, r.n, next)
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
		var sinkExtra string
		if r.orders == ordersMapped {
			sinkExtra = "    mapping: |\n" + indent(orders.CompletedOrderMapping, "      ")
		}
		p, ops, err = startConnector(ctx, h.bin, dir, httpExtra, eventsConfig(c, r.concurrency, sinkExtra))
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
				cpuProfile = make(chan error, 2)
				go func() {
					cpuProfile <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ops, r.profileSeconds), filepath.Join(r.profileDir, "cpu.pprof"))
				}()
				// The heap in use halfway through the CPU profile: what
				// the peak RSS is made of.
				go func() {
					select {
					case <-time.After(time.Duration(r.profileSeconds) * time.Second / 2):
					case <-ctx.Done():
					}
					err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap", ops), filepath.Join(r.profileDir, "heap.pprof"))
					if err == nil { // the runtime's MemStats (heap, stacks, GC) at the same moment
						err = fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap?debug=1", ops), filepath.Join(r.profileDir, "heap.txt"))
					}
					if err == nil { // the goroutines, whose stacks each collection scans
						err = fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", ops), filepath.Join(r.profileDir, "goroutine.txt"))
					}
					cpuProfile <- err
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
		for range 2 {
			if err := <-cpuProfile; err != nil {
				return Drain{}, err
			}
		}
	}
	return d, p.Stop(30 * time.Second)
}

// eventsTraffic is the generator of a run's events: the demo's Contacthub
// events, or OrderPlaced events of the e-commerce example, mapped or not.
func eventsTraffic(o ordersTraffic) (func() (key, value []byte), error) {
	if o == noOrders {
		g := demo.NewEventTraffic(42, 500, sandbox.NodeID)
		g.InvalidShare = 0
		return func() ([]byte, []byte) {
			k, v, _ := g.Next()
			return k, v
		}, nil
	}
	g := orders.NewTraffic(5, 2000)
	g.TestShare, g.NoCustomerShare = 0, 0 // every event is delivered
	if o == ordersMapped {
		return func() ([]byte, []byte) {
			k, v, _ := g.Next()
			return k, v
		}, nil
	}
	prog, err := mapping.Compile("completed_order.jq", orders.CompletedOrderMapping)
	if err != nil {
		return nil, err
	}
	return func() ([]byte, []byte) {
		k, v, _ := g.Next()
		in, err := mapping.Input(&streams.Record{Key: k, Value: v})
		if err != nil {
			panic(err) // the example's own events
		}
		outs, err := prog.Run(context.Background(), in)
		if err != nil || len(outs) != 1 {
			panic(fmt.Sprintf("the completedOrder mapping of %s: %d outputs, %v", v, len(outs), err))
		}
		return k, outs[0]
	}, nil
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}

// eventsConfig is the connector's config of one contacthub-events sink: the
// defaults users get, but for concurrency when it is > 0, and the sink's
// keys in sinkExtra.
func eventsConfig(c *cluster, concurrency int, sinkExtra string) string {
	var conc string
	if concurrency > 0 {
		conc = fmt.Sprintf("    concurrency: %d\n", concurrency)
	}
	return connectorConfig(c, sandbox.ContacthubSection(c.sandboxURL)+fmt.Sprintf(`sinks:
  - name: events
    type: contacthub-events
    topics: [%s]
%s%s`, eventsTopic, conc, sinkExtra))
}
