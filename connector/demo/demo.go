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
	"github.com/contactlab/connector/connector/contacthub"
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
	// Changes prints every change the example subscriber receives from the
	// update stream source's topics; otherwise the progress shows the last.
	Changes bool
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
	// Subscriber counts the changes the example subscriber received from
	// the source's topics.
	Subscriber int64 `json:"subscriber"`
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
	defer svc.Close()
	svcCtx, stopSvc := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSvc()
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(svcCtx) }()

	// An application following Contacthub's changes through the source's
	// topics, as cmd/subscriber does.
	sub := newSubscriber(out, o.Changes)
	updates := cfg.Sources[0].Settings.(*service.UpdatesSourceConfig) // the demo config's own source
	subDone := make(chan error, 1)
	go func() {
		subDone <- contacthub.SubscribeUpdates(svcCtx, streams.SubscribeConfig{
			Brokers: []string{broker.Addr()},
			GroupID: "demo-subscriber",
			Topics:  []string{updates.CustomersTopic, updates.EventsTopic},
			Logger:  logger,
		}, sub.handle)
	}()

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
	for _, f := range feeds(sb) {
		wg.Go(func() {
			if err := produce(runCtx, broker.Addr(), f); err != nil {
				trafficErr <- err
			}
		})
	}
	p := newProgress(out, svc, sub, o.Quiet)
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
	// The subscriber catches up with what the source published before the stop.
	for time.Now().Before(drainUntil) && sub.count() < published(svc) {
		p.line(time.Now())
		time.Sleep(250 * time.Millisecond)
	}
	stopSvc()
	if err := <-svcDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if err := <-subDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("demo subscriber: %w", err)
	}
	sum := Summary{Seconds: time.Since(start).Seconds(), Pipelines: svc.Counts(), Sandbox: sandboxSummary(sb), Subscriber: sub.count()}
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
	// The upstream topics exist before the traffic and the pipelines start:
	// a first produce racing the topic's automatic creation can fail.
	var topics []string
	for _, f := range feeds(nil) { // only the topics: no generator runs
		topics = append(topics, f.topic)
	}
	if addr == "" {
		if b, err := embedded.Start(embedded.Config{Addr: "127.0.0.1:9092", Partitions: 4, Topics: topics}); err == nil {
			return b, nil
		}
		addr = "127.0.0.1:0"
	}
	return embedded.Start(embedded.Config{Addr: addr, Partitions: 4, Topics: topics})
}

// sandboxSummary is what the three stand-ins saw.
func sandboxSummary(sb *sandbox.Sandbox) map[string]any {
	ch := sb.Contacthub.Stats()
	u := sb.UPS.Stats()
	en := sb.EnableNow.Stats()
	return map[string]any{
		"contacthub": map[string]any{"accepted": ch.Accepted, "duplicate_bodies": ch.DuplicateBodies, "throttled": ch.Throttled, "updates_served": ch.UpdatesServed},
		"ups": map[string]any{"requests": u.Requests, "accepted": u.Accepted, "records_accepted": u.RecordsAccepted,
			"throttled_429": u.Throttled429, "jobs": u.Jobs, "jobs_failed": u.JobsFailed, "mean_fill_records": u.MeanFillRecords},
		"enablenow": map[string]any{"created": en.Created, "replayed": en.Replayed, "rejected": en.Rejected, "by_status": en.ByStatus},
	}
}

// published is how many records the sources published (tombstones not
// counted).
func published(svc *service.Service) int64 {
	var n int64
	for _, u := range svc.Units() {
		if s, ok := u.(*contacthub.UpdateStreamSource); ok {
			n += s.Counts().Delivered
		}
	}
	return n
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
	fmt.Fprintf(out, "  %-22s %10s %10s %10s %10s %8s\n", "pipeline", "consumed", "delivered", "filtered", "dead-lett.", "retries")
	for _, n := range names {
		c := s.Pipelines[n]
		fmt.Fprintf(out, "  %-22s %10d %10d %10d %10d %8d\n", n, c.Consumed, c.Delivered, c.Filtered, c.DeadLettered, c.Retries)
	}
	b, _ := json.Marshal(s.Sandbox)
	fmt.Fprintf(out, "  sandbox: %s\n", b)
}

// subscriber is the demo's application on the source's topics: it prints
// every change (Options.Changes) or keeps the last for the progress block.
type subscriber struct {
	printer *contacthub.UpdatePrinter
	mu      sync.Mutex
	last    string
	n       int64 // changes that are not tombstones
	buf     strings.Builder
}

func newSubscriber(out io.Writer, all bool) *subscriber {
	s := &subscriber{}
	if all {
		s.printer = contacthub.NewUpdatePrinter(out)
	} else {
		s.printer = contacthub.NewUpdatePrinter(&s.buf)
	}
	return s
}

func (s *subscriber) handle(ctx context.Context, ch contacthub.UpdateChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Reset()
	if err := s.printer.Handle(ctx, ch); err != nil {
		return err
	}
	if s.buf.Len() > 0 {
		s.last = strings.TrimSpace(s.buf.String())
	}
	if !ch.Tombstone {
		s.n++
	}
	return nil
}

func (s *subscriber) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *subscriber) status() (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.printer.Printed(), s.last
}

// progress prints a block a second: one line per pipeline and source, and
// what the subscriber last received.
type progress struct {
	out   io.Writer
	svc   *service.Service
	sub   *subscriber
	quiet bool
	start time.Time
	last  map[string]int64
	lastT time.Time
}

func newProgress(out io.Writer, svc *service.Service, sub *subscriber, quiet bool) *progress {
	return &progress{out: out, svc: svc, sub: sub, quiet: quiet, start: time.Now(), last: map[string]int64{}, lastT: time.Now()}
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
	sources := map[string]*contacthub.UpdateStreamSource{}
	for _, u := range p.svc.Units() {
		if s, ok := u.(*contacthub.UpdateStreamSource); ok {
			sources[u.Name()] = s
		}
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	dt := now.Sub(p.lastT).Seconds()
	ready, why := p.svc.Ready()
	state := "ready"
	if !ready {
		var ws []string
		for k, v := range why {
			ws = append(ws, k+": "+v)
		}
		sort.Strings(ws)
		state = "NOT READY: " + strings.Join(ws, "; ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%4.0fs] %s\n", now.Sub(p.start).Seconds(), state)
	for _, n := range names {
		c := counts[n]
		done := c.Delivered + c.DeadLettered + c.Filtered
		rate := 0.0
		if dt > 0 {
			rate = float64(done-p.last[n]) / dt
		}
		p.last[n] = done
		if src, ok := sources[n]; ok {
			pr := src.Progress()
			fmt.Fprintf(&b, "  %-16s source %-8s offset %d of %d (%.0f%%) %6.0f/s eta %s published %d\n",
				n, pr.State, pr.Current, pr.Last, pr.Percent, pr.Rate, pr.ETA.Round(time.Second), c.Delivered)
			continue
		}
		fmt.Fprintf(&b, "  %-16s in %7d  ok %7d  filtered %4d  dlq %5d  retry %5d  %6.0f/s  lag %d\n", n, c.Consumed, c.Delivered, c.Filtered, c.DeadLettered, c.Retries, rate, c.Lag)
	}
	if n, last := p.sub.status(); n > 0 {
		fmt.Fprintf(&b, "  %-16s %d changes; last: %s\n", "subscriber", n, last)
	}
	p.lastT = now
	fmt.Fprint(p.out, b.String())
}
