package service

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/streams"
)

// buildEnableNowSink builds a sink of type enablenow: the CategorizationSink,
// with its JobMonitor part when the sink follows its jobs, and the results
// topic. The sink runs the monitor itself and shows it through Parts, so
// there is no unit of its own to add.
func buildEnableNowSink(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	if d.Config.EnableNow == nil || sc.EnableNow == nil {
		return nil, nil, nil, errors.New("enablenow: the enablenow section and the sink's enablenow settings are needed (config defaults not applied?)")
	}
	en := sc.EnableNow
	log := d.Log.With("pipeline", sc.Name)
	var reg prometheus.Registerer
	if d.Registry != nil {
		// A constant pipeline label keeps the collectors of two enablenow
		// sinks apart in one registry.
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": sc.Name}, d.Registry)
	}
	m := enablenow.NewMetrics(reg)
	client := enablenow.NewClient(*d.Config.EnableNow, d.HTTP)
	prod, err := d.Producer()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("results producer: %w", err)
	}
	results := enablenow.NewKafkaResults(prod, en.ResultsTopic, func(n int) { d.Streams.Produced(sc.Name, "results", n) })

	var monitor *enablenow.JobMonitor
	if en.MonitorJobs {
		monitor, err = enablenow.NewJobMonitor(enablenow.MonitorConfig{
			// "/" cannot appear in a sink name, so this never names another unit.
			Name:         sc.Name + "/job-monitor",
			PollInterval: en.PollInterval,
			MaxJobs:      en.MaxMonitoredJobs,
			Timeout:      en.MonitorTimeout,
			// The sink's concurrency is how many calls it may have in flight
			// to the API; status reads get the same allowance.
			Concurrency: sc.Concurrency,
			Logger:      log.With("unit", "job-monitor"),
			Metrics:     m,
		}, client, results)
		if err != nil {
			return nil, nil, nil, err
		}
	}
	sink := enablenow.NewCategorizationSink(client, results, monitor, log, m)
	topics := []streams.TopicSpec{{Name: en.ResultsTopic, Partitions: d.Config.Kafka.Partitions}}
	return sink, nil, topics, nil
}
