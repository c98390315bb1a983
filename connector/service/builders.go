package service

import (
	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/streams"
)

// sinkBuilder builds a sink of one type, with the background units it needs
// (job followers) and the topics it writes besides the dead-letter topic.
type sinkBuilder func(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error)

var sinkBuilders = map[string]sinkBuilder{
	config.SinkContacthubEvents: buildEventsSink,
	config.SinkUPS:              buildUPSSink,
	config.SinkEnableNow:        buildEnableNowSink,
}

func buildEventsSink(d *Deps, sc config.Sink) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	return contacthub.NewEventsSink(d.Contacthub(), d.Log.With("pipeline", sc.Name)), nil, nil, nil
}
