package service

import (
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/ups"
)

// upsSection is the key of the UPS API's section, which the ups sinks need.
const upsSection = "ups"

// UPSConfig is the ups section: the Algonomy UPS Enrichment API, shared by
// every ups sink.
type UPSConfig struct {
	// BaseURL is the gateway host, e.g. https://gateway.richrelevance.com.
	BaseURL      string        `yaml:"base_url"`
	APIKey       string        `yaml:"api_key"`
	ClientID     string        `yaml:"client_id"`
	ClientSecret config.Secret `yaml:"client_secret"`
	Timeout      time.Duration `yaml:"timeout"`
	// UpdatesPerSecond caps user updates (records) per second across all
	// collections of the API key (the API's limit is 1000).
	UpdatesPerSecond int `yaml:"updates_per_second"`
	// MaxRecords and MaxBodyBytes bound one request (API: 1000 and 50 KB).
	MaxRecords   int `yaml:"max_records"`
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// StatusPollInterval is how often open jobs are checked.
	StatusPollInterval time.Duration `yaml:"status_poll_interval"`
	// MaxOpenJobs bounds the jobs followed at once (bounded memory).
	MaxOpenJobs int `yaml:"max_open_jobs"`
	// Headroom is the share of UpdatesPerSecond the connector uses (default
	// 1): lower it to leave room for other clients of the same API key.
	// Jitter needs none: requests take at most 95% of a second's budget and
	// a slow answer delays the next request by as much (see ups.Pacer).
	Headroom float64 `yaml:"headroom"`
	// JobTimeout is how long a job is followed; one with no outcome by then
	// counts as FAILED (its records are sent again).
	JobTimeout time.Duration `yaml:"job_timeout"`
}

func init() {
	config.RegisterSection(config.Section[UPSConfig]{
		Key:      upsSection,
		Defaults: upsDefaults,
		Validate: validateUPS,
	})
}

func upsDefaults(u *UPSConfig) {
	config.Default(&u.BaseURL, "https://gateway.richrelevance.com")
	config.Default(&u.Timeout, 30*time.Second)
	config.Default(&u.UpdatesPerSecond, 1000)
	config.Default(&u.MaxRecords, 1000)
	config.Default(&u.MaxBodyBytes, 50*1024)
	config.Default(&u.StatusPollInterval, time.Second)
	config.Default(&u.MaxOpenJobs, 10000)
	config.Default(&u.Headroom, 1)
	config.Default(&u.JobTimeout, 30*time.Minute)
}

func validateUPS(p config.Problems, u *UPSConfig) {
	p.Duration("timeout", u.Timeout, 100*time.Millisecond, 10*time.Minute)
	p.Duration("status_poll_interval", u.StatusPollInterval, 10*time.Millisecond, time.Hour)
	p.Duration("job_timeout", u.JobTimeout, time.Second, 7*24*time.Hour)

	p.HTTPURL("base_url", u.BaseURL)
	if u.APIKey == "" {
		p.Add("api_key", "must be set")
	}
	if u.ClientID == "" {
		p.Add("client_id", "must be set")
	}
	p.SecretSet("client_secret", u.ClientSecret)
	p.InRange("max_records", u.MaxRecords, 1, 1000, "the API's limit")
	p.InRange("max_body_bytes", u.MaxBodyBytes, 1024, 50*1024, "the API's limit is 50 KB")
	if u.UpdatesPerSecond < 1 {
		p.Add("updates_per_second", "must be at least 1")
	}
	if u.MaxOpenJobs < 1 {
		p.Add("max_open_jobs", "must be at least 1")
	}
	if u.Headroom <= 0 || u.Headroom > 1 {
		p.Add("headroom", "%v is not in (0, 1]", u.Headroom)
	}
	if u.StatusPollInterval <= 0 {
		p.Add("status_poll_interval", "must be positive")
	}
	if u.JobTimeout <= u.StatusPollInterval {
		p.Add("job_timeout", "must be longer than ups.status_poll_interval")
	}
}

// Options are the client options of the section.
func (u *UPSConfig) Options() ups.Options {
	return ups.Options{
		BaseURL:          u.BaseURL,
		APIKey:           u.APIKey,
		ClientID:         u.ClientID,
		ClientSecret:     u.ClientSecret.Value(),
		Timeout:          u.Timeout,
		UpdatesPerSecond: u.UpdatesPerSecond,
		Headroom:         u.Headroom,
		MaxRecords:       u.MaxRecords,
		MaxOpenJobs:      u.MaxOpenJobs,
	}
}

// upsConfig is the ups section; the builders of the types that need it run
// only when it is there.
func (d *Deps) upsConfig() *UPSConfig {
	return config.SectionOf[UPSConfig](d.Config, upsSection)
}
