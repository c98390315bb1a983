package ups

import "time"

// Options configure a client of the UPS Enrichment API (NewClient). Every
// field is used as given: the connector's config (package service) fills
// the defaults.
type Options struct {
	// BaseURL is the gateway host, e.g. https://gateway.richrelevance.com.
	BaseURL  string
	APIKey   string
	ClientID string
	// ClientSecret is the OAuth client secret. Nothing the client prints
	// shows it.
	ClientSecret string
	// Timeout bounds one request.
	Timeout time.Duration
	// UpdatesPerSecond caps user updates (records) per second across all
	// collections of the API key; Headroom is the share of it used.
	UpdatesPerSecond int
	Headroom         float64
	// MaxRecords bounds one request; the Pacer's bucket holds at least one.
	MaxRecords int
	// MaxOpenJobs bounds the jobs followed at once (bounded memory).
	MaxOpenJobs int
}
