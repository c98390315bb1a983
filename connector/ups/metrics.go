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

// upsOpts names a collector of the ups subsystem; CounterOpts and GaugeOpts
// are conversions of it.
func upsOpts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: "connector", Subsystem: "ups", Name: name, Help: help}
}

// NewMetrics registers a sink's collectors with reg (nil: not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts(upsOpts("requests_total",
			"Enrichment requests by outcome: accepted, throttled, too_large, rejected, unauthorized, failed.")), []string{"outcome"}),
		requestRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "connector", Subsystem: "ups",
			Name: "request_records", Help: "Records per enrichment request sent.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 750, 900, 1000}}),
		requestFill: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "connector", Subsystem: "ups",
			Name: "request_fill_ratio", Help: "How full a request is against the limit that binds it: the larger of records/max_records and compressed bytes/max_body_bytes.",
			Buckets: []float64{.1, .25, .5, .75, .9, .95, .99, 1}}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts(upsOpts("records_coalesced_total",
			"Records replaced by a newer update of their user before reaching the API."))),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts(upsOpts("jobs_total",
			"Jobs followed to their end, by status (COMPLETED, FAILED, UNVERIFIED).")), []string{"status"}),
		unverified: prometheus.NewCounter(prometheus.CounterOpts(upsOpts("jobs_unverified_total",
			"Jobs with no status word that ends them by the job timeout: published UNVERIFIED, their records committed and not sent again."))),
		openJobs: prometheus.NewGauge(prometheus.GaugeOpts(upsOpts("open_jobs", "Jobs accepted and not yet ended."))),
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
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(upsOpts("pace_records_per_second",
			"Records per second the connector currently allows itself against the API key's limit (AIMD).")),
			p.Pace),
		prometheus.NewCounterFunc(prometheus.CounterOpts(upsOpts("pace_cuts_total", "Times a 429 cut the pace.")),
			func() float64 { return float64(p.Cuts()) }),
	)
}
