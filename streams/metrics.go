package streams

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runtime's Prometheus collectors, shared by every pipeline of
// a process and told apart by the low-cardinality "pipeline" label.
type Metrics struct {
	consumed     *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	filtered     *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	retries      *prometheus.CounterVec
	lag          *prometheus.GaugeVec
	inFlight     *prometheus.GaugeVec
	paused       *prometheus.GaugeVec
	oldest       *prometheus.GaugeVec
	concurrency  *prometheus.GaugeVec
	commits      *prometheus.CounterVec
	produced     *prometheus.CounterVec
	share        *prometheus.GaugeVec
	finishing    *prometheus.GaugeVec
}

// NewMetrics registers the runtime's collectors with reg. A nil reg gives
// collectors that are counted but not exported (tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "connector", "pipeline"
	// Every collector but produced is the pipeline subsystem's, by pipeline
	// and the labels given.
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, append([]string{"pipeline"}, labels...))
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{"pipeline"})
	}
	m := &Metrics{
		consumed:     counter("records_consumed_total", "Records fetched from Kafka by a sink pipeline."),
		delivered:    counter("records_delivered_total", "Records the destination accepted."),
		filtered:     counter("records_filtered_total", "Records acknowledged without delivery because the sink's mapping gave no output for them."),
		deadLettered: counter("records_dead_lettered_total", "Records written to the dead-letter topic, by reason class.", "reason"),
		retries:      counter("record_retries_total", "Record delivery attempts that will be retried."),
		lag:          gauge("consumer_lag_records", "End offset minus the group's committed offset, summed over every partition of the pipeline's topics, as the brokers report them."),
		inFlight:     gauge("in_flight_records", "Records fetched but not yet finished."),
		paused:       gauge("paused", "1 while the pipeline is paused on a credential failure."),
		oldest:       gauge("oldest_unfinished_seconds", "Age of the oldest record fetched and not yet delivered or dead-lettered: every stall shows here, whatever its cause."),
		concurrency:  gauge("concurrency_limit", "Sink.Write calls allowed at once: fixed, or the adaptive limit now."),
		commits:      counter("offset_commits_total", "Offset commits, by result: ok, error, or behind (not sent: the group's offset was already past them).", "result"),
		produced: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "producer",
			Name: "records_produced_total", Help: "Records Kafka acknowledged, by topic role."}, []string{"pipeline", "role"}),
		finishing: gauge("rebalance_finishing", "1 while the pipeline of a sink that keeps an order waits, before it rejoins its group, for the records of the last generation to finish (at most half the session timeout)."),
		share:     gauge("partition_share", "Share (0 to 1) of the consumer group's partitions assigned to this process, as the group coordinator reports it; the process paces a rate-limited API at this share of the limit. Only for pipelines whose API has one."),
	}
	if reg != nil {
		reg.MustRegister(m.consumed, m.delivered, m.filtered, m.deadLettered, m.retries, m.lag, m.inFlight, m.paused, m.oldest, m.concurrency, m.commits, m.produced, m.share, m.finishing)
	}
	return m
}

// Produced counts records Kafka acknowledged for a pipeline; role says which
// topic ("dead_letter", "results", "customers", ...).
func (m *Metrics) Produced(pipeline, role string, n int) {
	m.produced.WithLabelValues(pipeline, role).Add(float64(n))
}

// Counts are a pipeline's totals since start, for progress lines and demo
// summaries (Prometheus is for scraping; these are for humans and tests).
type Counts struct {
	Consumed  int64 `json:"consumed"`
	Delivered int64 `json:"delivered"`
	// Filtered records were acknowledged without delivery: the sink's
	// mapping gave no output for them.
	Filtered     int64 `json:"filtered"`
	DeadLettered int64 `json:"dead_lettered"`
	Retries      int64 `json:"retries"`
	InFlight     int64 `json:"in_flight"`
	Lag          int64 `json:"lag"`
}

type counters struct {
	consumed, delivered, filtered, deadLettered, retries, inFlight, lag atomic.Int64
}

func (c *counters) snapshot() Counts {
	return Counts{
		Consumed:     c.consumed.Load(),
		Delivered:    c.delivered.Load(),
		Filtered:     c.filtered.Load(),
		DeadLettered: c.deadLettered.Load(),
		Retries:      c.retries.Load(),
		InFlight:     c.inFlight.Load(),
		Lag:          c.lag.Load(),
	}
}

// pipelineCounters are one pipeline's children of the shared vectors,
// looked up once: the per-record path then costs an atomic add, not a
// label hash.
type pipelineCounters struct {
	consumed, delivered, filtered, retries prometheus.Counter
	inFlight                               prometheus.Gauge
}

func newPipelineCounters(m *Metrics, name string) pipelineCounters {
	return pipelineCounters{
		consumed:  m.consumed.WithLabelValues(name),
		delivered: m.delivered.WithLabelValues(name),
		filtered:  m.filtered.WithLabelValues(name),
		retries:   m.retries.WithLabelValues(name),
		inFlight:  m.inFlight.WithLabelValues(name),
	}
}
