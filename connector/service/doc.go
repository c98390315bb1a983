// Package service builds the connector from a config.Config and runs it: one
// unit per sink pipeline, source and background follower, all in one group so
// that one unit's failure stops the rest, plus the operations endpoint
// (/metrics, /healthz, /readyz, /status).
//
// It owns wiring only: what a sink does is in its API's package, how records
// flow is in package streams.
//
// Each component is one file: an API section (api_contacthub.go,
// api_ups.go, api_enablenow.go: the section's struct, defaults, checks and
// the client Options it makes), a sink type (sink_contacthub_events.go,
// sink_ups.go, sink_enablenow.go) or a source type
// (source_contacthub_updates.go): its block's struct, its defaults (the only
// place they live, the type's concurrency, max_in_flight and batch size
// included), its checks, its builder and one registration in init. A new
// sink type is one new file:
//
//	// CustomersSinkConfig is the block of a sink of type contacthub-customers.
//	type CustomersSinkConfig struct {
//		Mode string `yaml:"mode"`
//	}
//
//	func init() {
//		registerSink(config.SinkType[CustomersSinkConfig]{
//			Name:     "contacthub-customers",
//			Section:  "customers", // sinks[i].customers; "" for no block
//			Needs:    []string{contacthubSection},
//			Defaults: customersSinkDefaults,
//			Validate: validateCustomersSink,
//		}, buildCustomersSink)
//	}
//
//	// The common values whose default is the type's have none otherwise.
//	func customersSinkDefaults(s *config.Sink, c *CustomersSinkConfig) {
//		config.DefaultConcurrency(&s.Concurrency, config.Concurrency{Fixed: 64})
//		config.Default(&s.MaxInFlight, 2000)
//		config.Default(&s.Batch.MaxRecords, 1)
//		config.Default(&c.Mode, "upsert")
//	}
//
//	// Keys are relative to the sink: "customers.mode" reads "sinks[3].customers.mode".
//	func validateCustomersSink(p config.Problems, c *config.Config, s *config.Sink, cc *CustomersSinkConfig) {
//		if cc.Mode != "upsert" && cc.Mode != "replace" {
//			p.Add("customers.mode", "%q is not upsert or replace", cc.Mode)
//		}
//	}
//
//	func buildCustomersSink(d *Deps, sc config.Sink, c *CustomersSinkConfig) (streams.Sink, []Unit, []streams.TopicSpec, error)
package service
