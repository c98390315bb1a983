package service

import (
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// CustomersSinkConfig is the block of a sink of type contacthub-customers
// (sinks[i].customers).
type CustomersSinkConfig struct {
	// Workers is how many calls the sink makes at once (one per customer at most).
	Workers int `yaml:"workers"`
	// ReorderWindow is how long a record that arrives ahead of a lower
	// offset of its partition waits for it; negative keeps arrival order.
	ReorderWindow time.Duration `yaml:"reorder_window"`
	// RetryHold is how long a customer waits for a record handed back for
	// a retry; above retry.max and its jitter.
	RetryHold time.Duration `yaml:"retry_hold"`
	Paths     struct {
		Customers string `yaml:"customers"`
		Customer  string `yaml:"customer"`
		Sessions  string `yaml:"sessions"`
	} `yaml:"paths"`
}

// A contacthub-customers sink creates (upserts) and patches Contacthub
// customers and gives them sessions, one call per customer at a time.
func init() {
	registerSink(config.SinkType[CustomersSinkConfig]{
		Name:     "contacthub-customers",
		Section:  "customers",
		Needs:    []string{contacthubSection},
		Defaults: customersSinkDefaults,
		Validate: validateCustomersSink,
		Check:    decodeCheck[CustomersSinkConfig](schemas.DecodeCustomerRecord),
	}, buildCustomersSink)
}

func customersSinkDefaults(s *config.Sink, c *CustomersSinkConfig) {
	// Write only queues: the sink's own workers make the calls.
	config.DefaultConcurrency(&s.Concurrency, config.Concurrency{Fixed: 8})
	config.Default(&s.MaxInFlight, 2000)
	config.Default(&s.Batch.MaxRecords, 1)
	config.Default(&c.Workers, 16)
	config.Default(&c.ReorderWindow, 50*time.Millisecond)
	config.Default(&c.RetryHold, 30*time.Second)
}

func validateCustomersSink(p config.Problems, _ *config.Config, s *config.Sink, c *CustomersSinkConfig) {
	// The runtime waits up to 1.5 x retry.max before it hands a record back.
	if c.RetryHold < s.Retry.Max*3/2 {
		p.Add("customers.retry_hold", "%s must be at least 1.5 x retry.max (%s): a customer would stop waiting for its retried record", c.RetryHold, s.Retry.Max)
	}
}

func buildCustomersSink(d *Deps, sc config.Sink, c *CustomersSinkConfig) (streams.Sink, []Unit, []streams.TopicSpec, error) {
	sink, err := contacthub.NewCustomersSink(d.Contacthub(), contacthub.CustomersOptions{
		Paths:         contacthub.CustomerPaths{Customers: c.Paths.Customers, Customer: c.Paths.Customer, Sessions: c.Paths.Sessions},
		Workers:       c.Workers,
		ReorderWindow: c.ReorderWindow,
		RetryHold:     c.RetryHold,
	}, d.Log.With("pipeline", sc.Name))
	if err != nil {
		return nil, nil, nil, err
	}
	return sink, nil, nil, nil
}
