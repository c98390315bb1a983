package service

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/ups"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// buildUPSSink builds a sink of type ups: the EnrichmentSink of the sink's
// collection over the shared UPS client, and its results topic. The sink
// runs its sender and job follower itself (streams.Sink's Start) and
// reports them as its Parts, so it brings no units of its own.
func buildUPSSink(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	if d.Config.UPS == nil || sc.UPS == nil {
		return nil, nil, nil, errors.New("ups: the ups section and the sink's ups settings are needed (config defaults not applied?)")
	}
	coll, err := schemas.ParseCollection(sc.UPS.Collection)
	if err != nil {
		return nil, nil, nil, err
	}
	var reg prometheus.Registerer
	if d.Registry != nil {
		// A constant pipeline label keeps the collectors of the four sinks
		// apart in one registry.
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": sc.Name}, d.Registry)
	}
	prod, err := d.Producer()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("results producer: %w", err)
	}
	results := ups.NewKafkaResults(prod, sc.UPS.ResultsTopic, func(n int) { d.Streams.Produced(sc.Name, "results", n) })
	api := d.Config.UPS
	retryMemory := sc.Retry.MaxElapsed + sc.Retry.Max
	if sc.Retry.MaxElapsed <= 0 {
		retryMemory = 0 // the sink's default: records retried for ever are remembered for an hour
	}
	sink, err := ups.NewEnrichmentSink(ups.SinkConfig{
		Pipeline:       sc.Name,
		Collection:     coll,
		Grouped:        sc.UPS.LinkingType == "grouped",
		SiteID:         sc.UPS.SiteID,
		MaxRecords:     api.MaxRecords,
		MaxBodyBytes:   api.MaxBodyBytes,
		Linger:         sc.Batch.Linger,
		PollInterval:   api.StatusPollInterval,
		JobTimeout:     api.JobTimeout,
		MaxJobAttempts: sc.UPS.MaxJobAttempts,
		RetryMemory:    retryMemory,
		Logger:         d.Log.With("pipeline", sc.Name),
		Metrics:        ups.NewMetrics(reg),
	}, d.UPS(), results)
	if err != nil {
		return nil, nil, nil, err
	}
	topics := []streams.TopicSpec{{Name: sc.UPS.ResultsTopic, Partitions: d.Config.Kafka.Partitions}}
	return sink, nil, topics, nil
}
