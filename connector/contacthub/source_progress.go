package contacthub

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Progress is where an update stream source stands: for logs, the demo's
// progress line and /status. Offsets are Contacthub's.
type Progress struct {
	// State is active, standby, joining or stopped (see streams.LeaderState).
	State string `json:"state"`
	// Current is the offset of the last update published and stored.
	Current int64 `json:"current"`
	// Last is the newest offset of the stream, as last read.
	Last int64 `json:"last"`
	// Rate is offsets published per second over the last few seconds
	// (updates per second when the stream is not filtered).
	Rate float64 `json:"rate"`
	// Percent is how far Current is from where this lead started to Last.
	Percent float64 `json:"percent"`
	// ETA is how long Current takes to reach Last at Rate; 0 when caught up
	// or when nothing moves.
	ETA time.Duration `json:"eta"`
}

// Lag is how many offsets the source is behind the stream.
func (p Progress) Lag() int64 { return max(0, p.Last-p.Current) }

// String is the human form: "active 45.2% 180000/398000 52000/s 4s left".
func (p Progress) String() string {
	s := fmt.Sprintf("%s %.1f%% %d/%d %.0f/s", p.State, p.Percent, p.Current, p.Last, p.Rate)
	if p.ETA > 0 {
		s += " " + p.ETA.Round(time.Second).String() + " left"
	}
	return s
}

// rateWindow is how far back Progress.Rate looks: long enough to smooth the
// steps of page-sized publishes, short enough to follow a change of pace.
const rateWindow = 10 * time.Second

// progressTracker follows a source's offsets and sets its gauges.
type progressTracker struct {
	m *sourceGauges

	mu      sync.Mutex
	start   int64 // offset this lead started from
	current int64
	last    int64
	samples []progressSample
	lastLog time.Time
	behind  bool // a full page was read since the last caught-up log
}

type progressSample struct {
	at     time.Time
	offset int64
}

func newProgressTracker(m *sourceGauges) *progressTracker { return &progressTracker{m: m} }

// begin starts a lead from offset (<0: no offset known yet).
func (p *progressTracker) begin(offset int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	offset = max(0, offset)
	p.start, p.current, p.samples = offset, offset, nil
	p.last = max(p.last, offset)
	p.samples = append(p.samples, progressSample{now, offset})
	p.publish()
}

// observeLast records the newest offset of the stream.
func (p *progressTracker) observeLast(last int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = max(p.last, last, p.current)
	p.publish()
}

// advance records a stored offset.
func (p *progressTracker) advance(offset int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = max(p.current, offset)
	p.last = max(p.last, p.current)
	p.samples = append(p.samples, progressSample{now, p.current})
	i := 0
	for i < len(p.samples)-2 && now.Sub(p.samples[i+1].at) >= rateWindow {
		i++
	}
	p.samples = p.samples[i:]
	p.publish()
}

func (p *progressTracker) publish() {
	p.m.current.Set(float64(p.current))
	p.m.last.Set(float64(p.last))
	p.m.lag.Set(float64(max(0, p.last-p.current)))
}

// snapshot computes the figures at now.
func (p *progressTracker) snapshot(now time.Time) Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := Progress{Current: p.current, Last: p.last, Percent: 100}
	if n := len(p.samples); n >= 2 {
		first, latest := p.samples[0], p.samples[n-1]
		// Until the window has filled, the time since the first sample is
		// what the rate is over; after a pause, the time to now.
		if d := now.Sub(first.at).Seconds(); d > 0 {
			pr.Rate = float64(latest.offset-first.offset) / d
		}
	}
	if span := p.last - p.start; span > 0 {
		pr.Percent = 100 * float64(p.current-p.start) / float64(span)
	}
	if lag := p.last - p.current; lag > 0 && pr.Rate > 0 {
		pr.ETA = time.Duration(float64(lag) / pr.Rate * float64(time.Second))
	}
	return pr
}

// logDue reports whether a catching-up line is due (every every, while
// behind) or a caught-up line is (once, when no longer behind).
func (p *progressTracker) logDue(now time.Time, every time.Duration, fullPage bool) (catchingUp, caughtUp bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fullPage {
		if !p.behind {
			p.behind = true
			p.lastLog = now
			return false, false
		}
		if now.Sub(p.lastLog) >= every {
			p.lastLog = now
			return true, false
		}
		return false, false
	}
	if p.behind {
		p.behind = false
		return false, true
	}
	return false, false
}

// SourceMetrics are the update stream sources' Prometheus collectors,
// shared by every source of a process and told apart by the "source" label.
type SourceMetrics struct {
	current   *prometheus.GaugeVec
	last      *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	active    *prometheus.GaugeVec
	paused    *prometheus.GaugeVec
	published *prometheus.CounterVec
	skipped   *prometheus.CounterVec
}

// NewSourceMetrics registers the collectors with reg, or reuses those
// already registered there, so that each source may ask for them. A nil reg
// gives collectors that are kept but not exported (tests).
func NewSourceMetrics(reg prometheus.Registerer) (*SourceMetrics, error) {
	const ns, sub = "connector", "source"
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{"source"})
	}
	m := &SourceMetrics{
		current: gauge("current_offset", "Contacthub offset of the last update the source published and stored."),
		last:    gauge("last_offset", "Newest offset of the Contacthub update stream, as the source last read it."),
		lag:     gauge("lag_offsets", "last_offset minus current_offset: how far the source is behind the stream."),
		active:  gauge("active", "1 while this replica is the one tailing the stream, 0 on standby."),
		paused:  gauge("paused", "1 while the source is paused on a credential failure."),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "updates_published_total", Help: "Updates published to Kafka and acknowledged."}, []string{"source"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "updates_skipped_total", Help: "Updates read but not published, by reason (repeated, invalid, too_large)."}, []string{"source", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, g := range []**prometheus.GaugeVec{&m.current, &m.last, &m.lag, &m.active, &m.paused} {
		*g = registerOrReuse(reg, *g, &errs)
	}
	m.published = registerOrReuse(reg, m.published, &errs)
	m.skipped = registerOrReuse(reg, m.skipped, &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("source metrics: %w", err)
	}
	return m, nil
}

// registerOrReuse registers c, or returns the collector of the same
// description registered before (by another source of the process).
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C, errs *[]error) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		*errs = append(*errs, err)
	}
	return c
}

// sourceGauges are one source's children of the collectors.
type sourceGauges struct {
	current, last, lag, active, paused prometheus.Gauge
	published                          prometheus.Counter
	skipped                            *prometheus.CounterVec
	source                             string
}

func (m *SourceMetrics) forSource(name string) *sourceGauges {
	return &sourceGauges{
		current:   m.current.WithLabelValues(name),
		last:      m.last.WithLabelValues(name),
		lag:       m.lag.WithLabelValues(name),
		active:    m.active.WithLabelValues(name),
		paused:    m.paused.WithLabelValues(name),
		published: m.published.WithLabelValues(name),
		skipped:   m.skipped,
		source:    name,
	}
}

func (g *sourceGauges) skip(reason string, n int) {
	g.skipped.WithLabelValues(g.source, reason).Add(float64(n))
}
