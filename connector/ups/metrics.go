package ups

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collectors of one UPS sink. The service registers them
// with a constant pipeline label, so several sinks share a registry; the
// labels below have a handful of values each, never a user or job id.
type Metrics struct {
	requests       *prometheus.CounterVec
	requestRecords prometheus.Histogram
	requestFill    prometheus.Histogram
	coalesced      prometheus.Counter
	jobs           *prometheus.CounterVec
	unverified     prometheus.Counter
	openJobs       prometheus.Gauge
}

// NewMetrics registers a sink's collectors with reg (nil: not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "connector", "ups"
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "Enrichment requests by outcome: accepted, throttled, too_large, rejected, unauthorized, failed."}, []string{"outcome"}),
		requestRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "request_records", Help: "Records per enrichment request sent.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 750, 900, 1000}}),
		requestFill: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "request_fill_ratio", Help: "How full a request is against the limit that binds it: the larger of records/max_records and compressed bytes/max_body_bytes.",
			Buckets: []float64{.1, .25, .5, .75, .9, .95, .99, 1}}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "records_coalesced_total", Help: "Records replaced by a newer update of their user before reaching the API."}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "jobs_total", Help: "Jobs followed to their end, by status (COMPLETED, FAILED, UNVERIFIED)."}, []string{"status"}),
		unverified: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "jobs_unverified_total", Help: "Jobs with no status word that ends them by the job timeout: published UNVERIFIED, their records committed and not sent again."}),
		openJobs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "open_jobs", Help: "Jobs accepted and not yet ended."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.requestRecords, m.requestFill, m.coalesced, m.jobs, m.unverified, m.openJobs)
	}
	return m
}

// RegisterPacer exports the shared pacer's state (once per process).
func RegisterPacer(reg prometheus.Registerer, p *Pacer) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "connector", Subsystem: "ups",
			Name: "pace_records_per_second", Help: "Records per second the connector currently allows itself against the API key's limit (AIMD)."},
			p.Pace),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "connector", Subsystem: "ups",
			Name: "pace_cuts_total", Help: "Times a 429 cut the pace."},
			func() float64 { return float64(p.Cuts()) }),
	)
}
