package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/embedded"
)

// Options shape a demo run.
type Options struct {
	// For stops the demo by itself after this long; 0 runs until ctx ends.
	For time.Duration
	// Drain is how long, after traffic stops, in-flight records may finish.
	Drain time.Duration
	// SummaryJSON, when set, receives the per-pipeline and sandbox counts.
	SummaryJSON string
	// OpsAddr serves /metrics, /healthz and /readyz.
	OpsAddr string
	// BrokerAddr is where the embedded broker listens (default 127.0.0.1:9092,
	// or a free port when that one is taken).
	BrokerAddr string
	Quiet      bool
}

// Summary is what the demo writes at the end.
type Summary struct {
	Seconds   float64                   `json:"seconds"`
	Pipelines map[string]streams.Counts `json:"pipelines"`
	Sandbox   map[string]any            `json:"sandbox"`
}

// feed is one generator of upstream traffic.
type feed struct {
	topic string
	rate  int // records per second
	next  func() (key, value []byte, valid bool)
}

// Run runs the demo until ctx ends or o.For passes, then drains, stops and
// prints the summary.
func Run(ctx context.Context, o Options, out io.Writer) error {
	if o.Drain == 0 {
		o.Drain = 15 * time.Second
	}
	if o.OpsAddr == "" {
		o.OpsAddr = "127.0.0.1:0"
	}
	broker, err := startBroker(o.BrokerAddr)
	if err != nil {
		return err
	}
	defer broker.Close()

	sbCfg := sandbox.DefaultConfig()
	sbCfg.Contacthub.MaxRequestsPerMinute = 60000 // 1000/s: the connector reads it and paces below
	sbCfg.Contacthub.ChangesPerSecond = 50
	sb, err := sandbox.Start("127.0.0.1:0", sbCfg)
	if err != nil {
		return err
	}
	defer sb.Close()

	doc := demoConfig(broker.Addr(), sb, o.OpsAddr)
	cfg, err := config.Parse([]byte(doc), os.LookupEnv)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := service.New(cfg, service.WithLogger(logger))
	if err != nil {
		return err
	}
	svcCtx, stopSvc := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSvc()
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(svcCtx) }()

	fmt.Fprintf(out, "embedded broker  %s   (try: kcat -b %s -L)\n", broker.Addr(), broker.Addr())
	fmt.Fprintf(out, "sandbox APIs     %s   (stats: %s/_sandbox/contacthub/stats)\n", sb.URL(), sb.URL())
	fmt.Fprintf(out, "operations       http://%s/metrics  /healthz  /readyz  /status\n", svc.Addr())
	if o.For > 0 {
		fmt.Fprintf(out, "running for %s; Ctrl-C stops earlier\n\n", o.For)
	} else {
		fmt.Fprintf(out, "Ctrl-C stops and prints a summary\n\n")
	}

	runCtx := ctx
	if o.For > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.For)
		defer cancel()
	}
	start := time.Now()
	var wg sync.WaitGroup
	trafficErr := make(chan error, 8)
	for _, f := range feeds() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := produce(runCtx, broker.Addr(), f); err != nil {
				trafficErr <- err
			}
		}()
	}
	p := newProgress(out, svc, o.Quiet)
	p.loop(runCtx)
	wg.Wait()
	select {
	case err := <-trafficErr:
		return fmt.Errorf("demo traffic: %w", err)
	default:
	}
	select {
	case err := <-svcDone:
		return fmt.Errorf("connector stopped early: %w", err)
	default:
	}

	fmt.Fprintf(out, "\ntraffic stopped; draining in-flight records (up to %s)\n", o.Drain)
	drainUntil := time.Now().Add(o.Drain)
	for time.Now().Before(drainUntil) && !drained(svc) {
		p.line(time.Now())
		time.Sleep(250 * time.Millisecond)
	}
	stopSvc()
	if err := <-svcDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	sum := Summary{Seconds: time.Since(start).Seconds(), Pipelines: svc.Counts(), Sandbox: map[string]any{}}
	chs := sb.Contacthub.Stats()
	sum.Sandbox["contacthub"] = map[string]any{"accepted": chs.Accepted, "duplicate_bodies": chs.DuplicateBodies, "throttled": chs.Throttled, "updates_served": chs.UpdatesServed}
	printSummary(out, sum)
	if o.SummaryJSON != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(o.SummaryJSON, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("summary: %w", err)
		}
	}
	return nil
}

func startBroker(addr string) (*embedded.Broker, error) {
	if addr == "" {
		if b, err := embedded.Start(embedded.Config{Addr: "127.0.0.1:9092", Partitions: 4}); err == nil {
			return b, nil
		}
		addr = "127.0.0.1:0"
	}
	return embedded.Start(embedded.Config{Addr: addr, Partitions: 4})
}

// drained reports whether every sink has finished what it consumed.
func drained(svc *service.Service) bool {
	for _, c := range svc.Counts() {
		if c.InFlight != 0 || c.Lag != 0 {
			return false
		}
	}
	return true
}

// produce writes f's records at f.rate per second until ctx ends.
func produce(ctx context.Context, broker string, f feed) error {
	p, err := streams.NewProducer(streams.ProducerConfig{Brokers: []string{broker}, Topic: f.topic, Linger: 5 * time.Millisecond})
	if err != nil {
		return err
	}
	defer p.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	perTick := max(1, f.rate/10)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		msgs := make([]kafka.Message, 0, perTick)
		for range perTick {
			k, v, _ := f.next()
			msgs = append(msgs, kafka.Message{Key: k, Value: v})
		}
		if err := p.Produce(ctx, msgs...); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

func printSummary(out io.Writer, s Summary) {
	fmt.Fprintf(out, "\nsummary after %.0fs\n", s.Seconds)
	names := make([]string, 0, len(s.Pipelines))
	for n := range s.Pipelines {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(out, "  %-22s %10s %10s %10s %8s\n", "pipeline", "consumed", "delivered", "dead-lett.", "retries")
	for _, n := range names {
		c := s.Pipelines[n]
		fmt.Fprintf(out, "  %-22s %10d %10d %10d %8d\n", n, c.Consumed, c.Delivered, c.DeadLettered, c.Retries)
	}
	b, _ := json.Marshal(s.Sandbox)
	fmt.Fprintf(out, "  sandbox: %s\n", b)
}

// progress prints one line a second.
type progress struct {
	out   io.Writer
	svc   *service.Service
	quiet bool
	start time.Time
	last  map[string]int64
	lastT time.Time
}

func newProgress(out io.Writer, svc *service.Service, quiet bool) *progress {
	return &progress{out: out, svc: svc, quiet: quiet, start: time.Now(), last: map[string]int64{}, lastT: time.Now()}
}

func (p *progress) loop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.line(now)
		}
	}
}

func (p *progress) line(now time.Time) {
	if p.quiet {
		return
	}
	counts := p.svc.Counts()
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	dt := now.Sub(p.lastT).Seconds()
	var parts []string
	for _, n := range names {
		c := counts[n]
		done := c.Delivered + c.DeadLettered
		rate := 0.0
		if dt > 0 {
			rate = float64(done-p.last[n]) / dt
		}
		p.last[n] = done
		parts = append(parts, fmt.Sprintf("%s: in %d ok %d dlq %d retry %d %.0f/s lag %d", n, c.Consumed, c.Delivered, c.DeadLettered, c.Retries, rate, c.Lag))
	}
	p.lastT = now
	ready, why := p.svc.Ready()
	state := "ready"
	if !ready {
		var ws []string
		for k, v := range why {
			ws = append(ws, k+" "+v)
		}
		sort.Strings(ws)
		state = "NOT READY: " + strings.Join(ws, "; ")
	}
	fmt.Fprintf(p.out, "[%4.0fs] %s | %s\n", now.Sub(p.start).Seconds(), strings.Join(parts, " | "), state)
}
