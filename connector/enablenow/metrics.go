package enablenow

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the collectors of one enablenow sink and its monitor. They
// carry no pipeline label of their own: the service registers them through
// prometheus.WrapRegistererWith with a constant pipeline label, so two sinks
// never collide.
type Metrics struct {
	created   *prometheus.CounterVec
	following prometheus.Gauge
	changes   prometheus.Counter
	gaveUp    *prometheus.CounterVec
}

// NewMetrics registers the collectors with reg (nil: counted, not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "connector", "enablenow"
	m := &Metrics{
		created: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "jobs_created_total", Help: "Job creations answered by EnableNow, by outcome: created, or replayed from an idempotency key (an earlier attempt had created it)."}, []string{"outcome"}),
		following: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "monitored_jobs", Help: "Jobs followed until they end."}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "job_status_changes_total", Help: "Changes of job status seen by the monitor and published."}),
		gaveUp: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "monitor_gave_up_total", Help: "Jobs no longer followed before they ended, by reason: timeout, rejected (e.g. 404)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.created, m.following, m.changes, m.gaveUp)
	}
	return m
}
