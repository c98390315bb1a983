package service

import (
	"log/slog"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/ups"
	"github.com/contactlab/connector/streams"
)

var stderr = os.Stderr

// Deps are what builders share: config, logger, metrics and API clients.
// Clients are created once, so every pipeline of one API shares its pacing
// and connection pool.
type Deps struct {
	Config   *config.Config
	Log      *slog.Logger
	Registry prometheus.Registerer
	Streams  *streams.Metrics
	HTTP     *httpapi.Metrics
	// Security is how every Kafka client of the process connects.
	Security streams.Security

	chOnce  sync.Once
	ch      *contacthub.Client
	upsOnce sync.Once
	ups     *ups.Client
	prodMu  sync.Mutex
	prod    *streams.Producer

	// The shares of rate limits (shares.go).
	sharesMu    sync.Mutex
	limitShares map[string]*limitShare   // by API section
	onShare     map[string]func(float64) // by pipeline
}

// Contacthub is the shared Contacthub client.
func (d *Deps) Contacthub() *contacthub.Client {
	d.chOnce.Do(func() {
		opts := d.contacthubConfig().Options()
		opts.Logger = d.Log
		d.ch = contacthub.NewClient(opts, d.HTTP)
		if err := contacthub.RegisterClientMetrics(d.Registry, d.ch); err != nil {
			d.Log.Warn("contacthub client metrics not exported", "error", err)
		}
	})
	return d.ch
}

// UPS is the shared UPS client: one token per service, one Pacer and one
// bound on open jobs for every ups sink, because the API limits the API key
// across collections.
func (d *Deps) UPS() *ups.Client {
	d.upsOnce.Do(func() {
		d.ups = ups.NewClient(d.upsConfig().Options(), d.HTTP)
		ups.RegisterPacer(d.Registry, d.ups.Pacer())
	})
	return d.ups
}

// Producer is a shared producer for results topics (topic set per message).
func (d *Deps) Producer() (*streams.Producer, error) {
	d.prodMu.Lock()
	defer d.prodMu.Unlock()
	if d.prod == nil {
		k := d.Config.Kafka
		p, err := streams.NewProducer(streams.ProducerConfig{Brokers: k.Brokers, Security: d.Security, Compression: k.Compression, Acks: k.Acks})
		if err != nil {
			return nil, err
		}
		d.prod = p
	}
	return d.prod, nil
}

// pipelineRegistry is Registry with a constant pipeline label: it keeps
// apart, in one registry, the collectors of sinks of one type, which carry
// no pipeline label of their own. Nil when Registry is.
func (d *Deps) pipelineRegistry(pipeline string) prometheus.Registerer {
	if d.Registry == nil {
		return nil
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": pipeline}, d.Registry)
}

// PipelineConfig turns a sink's config into the runtime's.
func (d *Deps) PipelineConfig(sc config.Sink) streams.PipelineConfig {
	pc := streams.PipelineConfig{
		Name:              sc.Name,
		Brokers:           d.Config.Kafka.Brokers,
		Security:          d.Security,
		Compression:       d.Config.Kafka.Compression,
		Acks:              d.Config.Kafka.Acks,
		GroupID:           sc.GroupID,
		Topics:            sc.Topics,
		DeadLetterTopic:   sc.DeadLetterTopic,
		MaxInFlight:       sc.MaxInFlight,
		Concurrency:       sc.Concurrency.Fixed,
		BatchMaxRecords:   sc.Batch.MaxRecords,
		BatchLinger:       sc.Batch.Linger,
		Retry:             streams.RetryPolicy{InitialInterval: sc.Retry.Initial, MaxInterval: sc.Retry.Max, MaxElapsed: max(0, sc.Retry.MaxElapsed)},
		ShutdownGrace:     sc.ShutdownGrace,
		StartFromLatest:   sc.StartFrom == "latest",
		SessionTimeout:    d.Config.Kafka.SessionTimeout,
		HeartbeatInterval: d.Config.Kafka.HeartbeatInterval,
		Health: streams.HealthPolicy{
			Interval:               sc.Health.Interval,
			BrokerUnreachableAfter: sc.Health.BrokerUnreachableAfter,
			FailingAfter:           sc.Health.FailingAfter,
			StallAfter:             sc.Health.StallAfter,
		},
		OnShare: d.shareHook(sc.Name),
		Logger:  d.Log,
		Metrics: d.Streams,
	}
	if sc.Concurrency.Auto {
		pc.AdaptiveConcurrency.Min, pc.AdaptiveConcurrency.Max = sc.Concurrency.Min, sc.Concurrency.Max
	}
	return pc
}
