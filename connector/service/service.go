package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// Unit is something the service reports on /readyz, /status and
// connector_unit_ready: a sink pipeline, a source, or a part of a sink (a
// job follower).
type Unit interface {
	Name() string
	Ready() (bool, string)
}

// Runner is a Unit the service runs: a pipeline or a source. Run blocks
// until ctx ends (returning nil on a graceful stop) or the unit fails. Parts
// of a sink are run by their pipeline, not by the service.
type Runner interface {
	Unit
	Run(ctx context.Context) error
}

// Counter is implemented by units with record counts (sinks and sources).
type Counter interface {
	Counts() streams.Counts
}

// Service is the running connector.
type Service struct {
	cfg   *config.Config
	log   *slog.Logger
	reg   *prometheus.Registry
	deps  *Deps
	units []Unit
	// runners are the units Run runs: pipelines, sources and the units a
	// builder asked for. Parts of a sink are in units only: their pipeline
	// runs them.
	runners []Runner
	// kafka is the readiness of what the service does with Kafka itself
	// before its units run (creating topics).
	kafka  delivery.Readiness
	topics []streams.TopicSpec

	addrMu sync.Mutex
	addr   string
	ready  chan struct{}
}

// Option adjusts a Service.
type Option func(*Service)

// WithLogger sets the logger (default: from the config's log section, to stderr).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New builds every unit from cfg as Defaults completes it (cfg itself is
// not changed), after checking it; it connects to nothing yet.
func New(cfg *config.Config, opts ...Option) (*Service, error) {
	// A config made by hand builds as one from Parse would, and a builder
	// never meets a value Validate would refuse.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	s := &Service{cfg: cfg, reg: prometheus.NewRegistry(), ready: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = NewLogger(cfg.Log, nil)
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.kafka.Running(true)
	sec, err := KafkaSecurity(cfg.Kafka, s.log)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s.deps = &Deps{
		Config:   cfg,
		Log:      s.log,
		Registry: s.reg,
		Streams:  streams.NewMetrics(s.reg),
		HTTP:     httpapi.NewMetrics(s.reg),
		Security: sec,
	}
	for _, sc := range cfg.Sinks {
		build, ok := sinkBuilders[sc.Type]
		if !ok {
			return nil, fmt.Errorf("sink %s: no builder for type %q", sc.Name, sc.Type)
		}
		sink, extra, topics, err := build(s.deps, sc)
		if err != nil {
			return nil, fmt.Errorf("sink %s: %w", sc.Name, err)
		}
		if sink, err = withMapping(sink, &sc); err != nil {
			return nil, fmt.Errorf("sink %s: %w", sc.Name, err)
		}
		p, err := streams.NewPipeline(s.deps.PipelineConfig(sc), sink)
		if err != nil {
			return nil, err
		}
		s.units = append(s.units, p)
		s.runners = append(s.runners, p)
		for _, part := range p.Parts() {
			s.units = append(s.units, part)
		}
		for _, u := range extra {
			s.units = append(s.units, u)
			if r, ok := u.(Runner); ok {
				s.runners = append(s.runners, r)
			}
		}
		s.topics = append(s.topics, streams.TopicSpec{Name: sc.DeadLetterTopic, Partitions: cfg.Kafka.Partitions})
		s.topics = append(s.topics, topics...)
	}
	for _, sc := range cfg.Sources {
		build, ok := sourceBuilders[sc.Type]
		if !ok {
			return nil, fmt.Errorf("source %s: no builder for type %q", sc.Name, sc.Type)
		}
		units, topics, err := build(s.deps, sc)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		for _, u := range units {
			s.units = append(s.units, u)
			if r, ok := u.(Runner); ok {
				s.runners = append(s.runners, r)
			}
		}
		s.topics = append(s.topics, topics...)
	}
	s.reg.MustRegister(readyCollector{s})
	return s, nil
}

// withMapping puts the sink's mapping, when it has one, in front of sink,
// compiled once here; with none, sink is returned as it is.
func withMapping(sink streams.Sink, sc *config.Sink) (streams.Sink, error) {
	prog, err := MappingOf(sc)
	if err != nil || prog == nil {
		return sink, err
	}
	var opts []mapping.Option
	if check := config.CheckOf(sc); check != nil {
		opts = append(opts, mapping.WithCheck(check))
	}
	return mapping.Wrap(sink, prog, opts...), nil
}

// MappingOf is the compiled mapping of a sink, or nil when it has none.
func MappingOf(sc *config.Sink) (*mapping.Program, error) {
	name, src, err := sc.MappingSource()
	if err != nil {
		return nil, fmt.Errorf("mapping_file: %w", err)
	}
	if src == "" {
		return nil, nil
	}
	return mapping.Compile(name, src)
}

// Mapper is the mapping of the sink named name in cfg and the check of its
// type, for a dry run (`connector map`): what the service would build.
func Mapper(cfg *config.Config, name string) (*mapping.Program, mapping.Check, error) {
	cfg = cfg.WithDefaults()
	for i := range cfg.Sinks {
		sc := &cfg.Sinks[i]
		if sc.Name != name {
			continue
		}
		prog, err := MappingOf(sc)
		if err != nil {
			return nil, nil, fmt.Errorf("sink %s: %w", name, err)
		}
		if prog == nil {
			// No mapping: the record is the body; its only output is itself.
			prog, _ = mapping.Compile("(no mapping)", ".value")
		}
		return prog, config.CheckOf(sc), nil
	}
	names := make([]string, len(cfg.Sinks))
	for i, sc := range cfg.Sinks {
		names[i] = sc.Name
	}
	return nil, nil, fmt.Errorf("no sink named %q (sinks: %s)", name, strings.Join(names, ", "))
}

// readyDesc is /readyz as a metric, one series per unit, so dashboards and
// alerts see a unit that is paused or not running without probing.
var readyDesc = prometheus.NewDesc("connector_unit_ready",
	"1 while the unit (pipeline, source, job follower or monitor) runs and is not paused, as /readyz reports it.",
	[]string{"unit"}, nil)

// readyCollector reads every unit's readiness at scrape time.
type readyCollector struct{ s *Service }

func (c readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (c readyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.s.units {
		v := 0.0
		if ok, _ := u.Ready(); ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v, u.Name())
	}
}

// Units are the service's units, for progress reports.
func (s *Service) Units() []Unit { return s.units }

// Registry is the Prometheus registry /metrics serves.
func (s *Service) Registry() *prometheus.Registry { return s.reg }

// Addr is the operations endpoint's address once Run has started it.
func (s *Service) Addr() string {
	<-s.ready
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// Counts returns the record counts of every unit that has them.
func (s *Service) Counts() map[string]streams.Counts {
	out := map[string]streams.Counts{}
	for _, u := range s.units {
		if c, ok := u.(Counter); ok {
			out[u.Name()] = c.Counts()
		}
	}
	return out
}

// Ready reports whether every unit is ready, with the reasons of those that are not.
func (s *Service) Ready() (bool, map[string]string) {
	reasons := map[string]string{}
	if ok, why := s.kafka.Ready(); !ok {
		reasons["kafka"] = why
	}
	for _, u := range s.units {
		if ok, why := u.Ready(); !ok {
			reasons[u.Name()] = why
		}
	}
	return len(reasons) == 0, reasons
}

// Run creates missing topics, serves the operations endpoint and runs every
// unit until ctx ends or one fails. A graceful stop returns nil.
func (s *Service) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		close(s.ready)
		return fmt.Errorf("http.listen %s: %w", s.cfg.HTTP.Listen, err)
	}
	s.addrMu.Lock()
	s.addr = ln.Addr().String()
	s.addrMu.Unlock()
	close(s.ready)
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.log.Info("connector starting", "brokers", s.cfg.Kafka.Brokers, "units", len(s.units), "ops", s.addr)

	if *s.cfg.Kafka.CreateTopics {
		if err := s.ensureTopics(ctx); err != nil {
			if ctx.Err() != nil {
				// Stopped while Kafka refused us: a graceful stop all the same.
				s.log.Info("connector stopped before Kafka answered")
				return nil
			}
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, u := range s.runners {
		g.Go(func() error {
			if err := u.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", u.Name(), err)
			}
			return nil
		})
	}
	err = g.Wait()
	if err != nil {
		s.log.Error("connector stopped on a failure", "error", err)
		return err
	}
	s.log.Info("connector stopped")
	return nil
}

// ensureTopics creates the topics the connector writes, retrying while the
// brokers are not reachable yet (containers start in any order).
func (s *Service) ensureTopics(ctx context.Context) error {
	k := s.cfg.Kafka
	admin := streams.Admin{Brokers: k.Brokers, Security: s.deps.Security, ReplicationFactor: k.ReplicationFactor, MinInsyncReplicas: k.MinInsyncReplicas}
	retry := delivery.Forever(200*time.Millisecond, 10*time.Second).Start()
	for {
		err := admin.EnsureTopics(ctx, s.topics...)
		if err == nil {
			if s.kafka.Problem("kafka", "") {
				s.log.Info("Kafka answers; topics are in place")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Name the broker and the cause (a refused password, an untrusted
		// certificate) on /readyz, not only in a log line.
		why := err
		if cerr := streams.CheckBrokers(ctx, k.Brokers, s.deps.Security); cerr != nil {
			why = cerr
		}
		wait, _ := retry.Next(err)
		if s.kafka.Problem("kafka", "creating topics: "+why.Error()) || retry.Failures()%10 == 0 {
			s.log.Warn("creating topics failed; retrying", "error", why, "in", wait)
		}
		if !delivery.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

func (s *Service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, reasons := s.Ready()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "not_ready": reasons})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		names := make([]string, 0, len(s.units))
		for _, u := range s.units {
			names = append(names, u.Name())
		}
		sort.Strings(names)
		_ = json.NewEncoder(w).Encode(map[string]any{"units": names, "counts": s.Counts()})
	})
	if s.cfg.HTTP.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// NewLogger builds the JSON (or text) slog logger the config asks for.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	if w == nil {
		w = stderr
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
