package service

import (
	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// A contacthub-events sink posts each record as an event of the Contacthub
// workspace. It takes no block of its own.
func init() {
	registerSink(config.SinkType[struct{}]{
		Name:     "contacthub-events",
		Needs:    []string{contacthubSection},
		Defaults: eventsSinkDefaults,
		Check:    decodeCheck[struct{}](schemas.DecodeEvent),
	}, buildEventsSink)
}

func eventsSinkDefaults(s *config.Sink, _ *struct{}) {
	// One call per record (EventsSink), so the rate comes from many calls
	// in flight. The most is 512: a call in flight costs the process tens
	// of KB (a connection and its buffers, the worker, the record; about
	// 60 KB through net/http, whose connections hold two goroutines each),
	// so 512 keeps a pipeline's calls within about 30 MB. At 1024 a fast
	// machine let the limiter hold 600-700 calls at 20 ms, which ran no
	// faster than 512 (15,501/s against 17,029/s) and peaked at 72 MB
	// draining a backlog, against 50 MB at 512.
	config.DefaultConcurrency(&s.Concurrency, config.Concurrency{Auto: true, Min: 8, Max: 512})
	config.Default(&s.MaxInFlight, 2000)
	config.Default(&s.Batch.MaxRecords, 1)
}

func buildEventsSink(d *Deps, sc config.Sink, _ *struct{}) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	// Replicas share the workspace's limit.
	d.shareLimit(sc.Name, contacthubSection)
	return contacthub.NewEventsSink(d.Contacthub(), d.Log.With("pipeline", sc.Name)), nil, nil, nil
}
