package service

import (
	"fmt"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/ups"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// UPSSinkConfig is the block of a sink of type ups (sinks[i].ups).
type UPSSinkConfig struct {
	// Collection: rr-userattributes, rr-segments, userlinking, rr-userpreferences.
	Collection string `yaml:"collection"`
	// LinkingType for userlinking: explicit (default) or grouped.
	LinkingType string `yaml:"linking_type"`
	// SiteID is sent as siteId when set.
	SiteID int `yaml:"site_id"`
	// ResultsTopic receives each job's outcome.
	ResultsTopic string `yaml:"results_topic"`
	// MaxJobAttempts bounds how often the records of a FAILED job are sent.
	MaxJobAttempts int `yaml:"max_job_attempts"`
}

// A ups sink sends the records of one collection to the UPS Enrichment API
// over the client every ups sink shares.
func init() {
	registerSink(config.SinkType[UPSSinkConfig]{
		Name:     "ups",
		Section:  "ups",
		Needs:    []string{upsSection},
		Defaults: upsSinkDefaults,
		Validate: validateUPSSink,
		Check:    checkUPS,
	}, buildUPSSink)
}

// checkUPS is a ups sink's verdict on one {userId, value} record of its
// collection.
func checkUPS(_ *config.Sink, u *UPSSinkConfig) func([]byte) error {
	coll, err := schemas.ParseCollection(u.Collection)
	if err != nil {
		return func([]byte) error { return err }
	}
	return func(v []byte) error {
		_, err := schemas.DecodeUPSRecord(coll, v)
		return err
	}
}

func upsSinkDefaults(s *config.Sink, u *UPSSinkConfig) {
	// Write only admits records to the batcher and returns; a record's
	// outcome comes when its job ends, seconds later. So few Write calls
	// are needed at once, and it is max_in_flight that covers the job
	// latency at the API's rate (1000 updates/s × ~10 s of jobs, twice).
	config.DefaultConcurrency(&s.Concurrency, config.Concurrency{Fixed: 8})
	config.Default(&s.MaxInFlight, 20000)
	config.Default(&s.Batch.MaxRecords, 1000)
	config.Default(&u.LinkingType, "explicit")
	config.Default(&u.ResultsTopic, s.Name+".results")
	config.Default(&u.MaxJobAttempts, 3)
}

func validateUPSSink(p config.Problems, _ *config.Config, s *config.Sink, u *UPSSinkConfig) {
	switch u.Collection {
	case "rr-userattributes", "rr-segments", "userlinking", "rr-userpreferences":
	default:
		p.Add("ups.collection", "%q is not one of rr-userattributes, rr-segments, userlinking, rr-userpreferences", u.Collection)
	}
	switch u.LinkingType {
	case "explicit":
	case "grouped":
		if u.Collection != "userlinking" {
			p.Add("ups.linking_type", "grouped applies to the userlinking collection only")
		}
	default:
		p.Add("ups.linking_type", "%q is not explicit or grouped", u.LinkingType)
	}
	if u.MaxJobAttempts < 1 {
		p.Add("ups.max_job_attempts", "must be at least 1")
	}
	if s.Batch.MaxRecords > 1000 {
		p.Add("batch.max_records", "%d exceeds the API's 1000 records per request", s.Batch.MaxRecords)
	}
}

// buildUPSSink builds a sink of type ups: the EnrichmentSink of the sink's
// collection over the shared UPS client, its two units (the RequestSender
// and the JobFollower, which Write calls wait on), and the results topic.
func buildUPSSink(d *Deps, sc config.Sink, settings *UPSSinkConfig) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	coll, err := schemas.ParseCollection(settings.Collection)
	if err != nil {
		return nil, nil, nil, err
	}
	prod, err := d.Producer()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("results producer: %w", err)
	}
	d.shareLimit(sc.Name, upsSection) // replicas share the API key's limit
	results := ups.NewKafkaResults(prod, settings.ResultsTopic, func(n int) { d.Streams.Produced(sc.Name, "results", n) })
	api := d.upsConfig()
	retryMemory := sc.Retry.MaxElapsed + sc.Retry.Max
	if sc.Retry.MaxElapsed <= 0 {
		retryMemory = 0 // the sink's default: records retried for ever are remembered for an hour
	}
	sink, err := ups.NewEnrichmentSink(ups.SinkConfig{
		Pipeline:       sc.Name,
		Collection:     coll,
		Grouped:        settings.LinkingType == "grouped",
		SiteID:         settings.SiteID,
		MaxRecords:     api.MaxRecords,
		MaxBodyBytes:   api.MaxBodyBytes,
		Linger:         sc.Batch.Linger,
		PollInterval:   api.StatusPollInterval,
		JobTimeout:     api.JobTimeout,
		MaxJobAttempts: settings.MaxJobAttempts,
		RetryMemory:    retryMemory,
		Logger:         d.Log.With("pipeline", sc.Name),
		Metrics:        ups.NewMetrics(d.pipelineRegistry(sc.Name)),
	}, d.UPS(), results)
	if err != nil {
		return nil, nil, nil, err
	}
	topics := []streams.TopicSpec{{Name: settings.ResultsTopic, Partitions: d.Config.Kafka.Partitions}}
	return sink, nil, topics, nil
}
