package service

import (
	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/streams"
)

// buildUpdatesSource builds a contacthub-updates source: one unit that takes
// part in the source's leader election and tails the stream while it leads,
// and the topics it writes (customers compacted, events, and the one-partition
// compacted offsets topic the election runs on).
func buildUpdatesSource(d *Deps, sc config.Source) ([]Unit, []streams.TopicSpec, error) {
	m, err := contacthub.NewSourceMetrics(d.Registry)
	if err != nil {
		return nil, nil, err
	}
	src, err := contacthub.NewUpdateStreamSource(contacthub.UpdateStreamSourceConfig{
		Source:  sc,
		Kafka:   d.Config.Kafka,
		Client:  d.Contacthub(),
		Metrics: m,
		Streams: d.Streams,
		Logger:  d.Log,
	})
	if err != nil {
		return nil, nil, err
	}
	return []Unit{src}, src.Topics(), nil
}
