package contacthub

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterClientMetrics exports how c paces itself against the workspace
// throttling, read from c when scraped:
//
//	connector_contacthub_pace_requests_per_minute       the pace kept (0: none)
//	connector_contacthub_throttling_known               1 while the pace follows the workspace throttling as read, or the configured one; 0 while the throttling cannot be read (last value kept, or unpaced)
//	connector_contacthub_throttling_read_failures_total{reason}  failed reads: unauthorized (401/403), error
//
// A nil reg registers nothing. Call it once per client.
func RegisterClientMetrics(reg prometheus.Registerer, c *Client) error {
	if reg == nil {
		return nil
	}
	const ns, sub = "connector", "contacthub"
	failures := prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "throttling_read_failures_total"),
		"Failed reads of the workspace throttling, by reason: unauthorized (the token may not read it: 401/403) or error.", []string{"reason"}, nil)
	return errors.Join(
		reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "pace_requests_per_minute",
			Help: "Requests per minute the connector keeps below for the workspace (0: unpaced)."},
			func() float64 { return float64(max(0, c.Pace())) })),
		reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "throttling_known",
			Help: "1 while the pace follows the workspace throttling as read, or max_requests_per_minute; 0 while the throttling cannot be read (the last value read is kept, or none)."},
			func() float64 {
				if c.PaceKnown() {
					return 1
				}
				return 0
			})),
		reg.Register(collectorFunc{desc: failures, collect: func(ch chan<- prometheus.Metric) {
			f := c.ThrottlingReadFailures()
			for _, reason := range []string{"unauthorized", "error"} {
				ch <- prometheus.MustNewConstMetric(failures, prometheus.CounterValue, float64(f[reason]), reason)
			}
		}}),
	)
}

// collectorFunc is a collector of one description whose values are read
// when scraped.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
