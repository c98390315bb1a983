package service

import (
	"fmt"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// EnableNowSinkConfig is the block of a sink of type enablenow
// (sinks[i].enablenow).
type EnableNowSinkConfig struct {
	ResultsTopic string `yaml:"results_topic"`
	// MonitorJobs follows each job until it ends and publishes each status change.
	MonitorJobs  bool          `yaml:"monitor_jobs"`
	PollInterval time.Duration `yaml:"poll_interval"`
	// IdempotencyWindow is how long the API remembers an idempotency key.
	// Retries must end inside it (retry.max_elapsed is checked against it),
	// and the sink POSTs no record again once it has passed since the
	// record's first attempt, paused time included (the record is
	// dead-lettered with reason idempotency_window): a retry after the API
	// forgot the key could create a second job.
	IdempotencyWindow time.Duration `yaml:"idempotency_window"`
	// MaxMonitoredJobs bounds the jobs followed at once (bounded memory).
	// When it is reached the sink waits for a followed job to end before it
	// creates the next one (back-pressure on the topic).
	MaxMonitoredJobs int `yaml:"max_monitored_jobs"`
	// MonitorTimeout is how long a job is followed; a job that has not ended
	// by then gets a final result saying so and is no longer followed.
	MonitorTimeout time.Duration `yaml:"monitor_timeout"`
}

// An enablenow sink creates one categorization job per record and, when
// asked, follows each job until it ends.
func init() {
	registerSink(config.SinkType[EnableNowSinkConfig]{
		Name:     "enablenow",
		Section:  "enablenow",
		Needs:    []string{enablenowSection},
		Defaults: enablenowSinkDefaults,
		Validate: validateEnableNowSink,
		Check:    decodeCheck[EnableNowSinkConfig](schemas.DecodeCategorizationRequest),
	}, buildEnableNowSink)
}

func enablenowSinkDefaults(s *config.Sink, en *EnableNowSinkConfig) {
	config.DefaultConcurrency(&s.Concurrency, config.Concurrency{Auto: true, Min: 4, Max: 256})
	config.Default(&s.MaxInFlight, 1000)
	config.Default(&s.Batch.MaxRecords, 1)
	config.Default(&en.ResultsTopic, s.Name+".results")
	config.Default(&en.PollInterval, time.Second)
	config.Default(&en.IdempotencyWindow, 24*time.Hour)
	config.Default(&en.MaxMonitoredJobs, 10000)
	config.Default(&en.MonitorTimeout, time.Hour)
}

func validateEnableNowSink(p config.Problems, _ *config.Config, s *config.Sink, en *EnableNowSinkConfig) {
	// A retry after the API forgot the idempotency key could create a
	// second job for a request whose first attempt succeeded unseen.
	if s.Retry.MaxElapsed <= 0 || s.Retry.MaxElapsed >= en.IdempotencyWindow {
		p.Add("retry.max_elapsed", "%s must be above 0 and below enablenow.idempotency_window (%s): a retry after the API forgets the idempotency key could create a second job", s.Retry.MaxElapsed, en.IdempotencyWindow)
	}
	if en.PollInterval <= 0 {
		p.Add("enablenow.poll_interval", "must be positive")
	}
	if en.MaxMonitoredJobs < 1 {
		p.Add("enablenow.max_monitored_jobs", "must be at least 1")
	}
	if en.MonitorTimeout <= en.PollInterval {
		p.Add("enablenow.monitor_timeout", "must be longer than enablenow.poll_interval")
	}
}

// buildEnableNowSink builds a sink of type enablenow: the CategorizationSink,
// with its JobMonitor part when the sink follows its jobs, and the results
// topic. The sink runs the monitor itself and shows it through Parts, so
// there is no unit of its own to add.
func buildEnableNowSink(d *Deps, sc config.Sink, en *EnableNowSinkConfig) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	log := d.Log.With("pipeline", sc.Name)
	m := enablenow.NewMetrics(d.pipelineRegistry(sc.Name))
	api := d.enablenowConfig()
	opts := api.Options()
	opts.Logger = log
	client := enablenow.NewClient(opts, d.HTTP)
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
			Concurrency: sc.Concurrency.Limit(),
			Logger:      log.With("unit", "job-monitor"),
			Metrics:     m,
		}, client, results)
		if err != nil {
			return nil, nil, nil, err
		}
	}
	sink := enablenow.NewCategorizationSink(client, results, monitor, log, m,
		enablenow.IdempotencyWindow(en.IdempotencyWindow, api.Timeout))
	topics := []streams.TopicSpec{{Name: en.ResultsTopic, Partitions: d.Config.Kafka.Partitions}}
	return sink, nil, topics, nil
}
