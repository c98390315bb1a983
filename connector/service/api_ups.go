package service

import (
	"fmt"
	"strings"
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
	// JobTimeout is how long a job is followed; one with no status word
	// that ends it by then is published UNVERIFIED and its records are
	// committed, never sent again.
	JobTimeout time.Duration `yaml:"job_timeout"`
	// CompletedStatuses and FailedStatuses are the job-status words that
	// end a job (any case). The reference documents FAILED only; the
	// defaults add the usual words. Only a failed word sends records again.
	CompletedStatuses []string `yaml:"completed_statuses"`
	FailedStatuses    []string `yaml:"failed_statuses"`
	// TokenStyle is where the token requests carry the client credentials:
	// form (the reference's curl example; default) or query (its prose).
	TokenStyle string `yaml:"token_style"`
	// Paths are the API's paths; every one is overridable.
	Paths UPSPaths `yaml:"paths"`
}

// UPSPaths are the UPS paths; {apiKey}, {collection} and {jobId} are
// replaced.
type UPSPaths struct {
	Enrich      string `yaml:"enrich"`
	Status      string `yaml:"status"`
	Token       string `yaml:"token"`
	StatusToken string `yaml:"status_token"`
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
	words := ups.DefaultStatusWords()
	if len(u.CompletedStatuses) == 0 {
		u.CompletedStatuses = words.Completed
	}
	if len(u.FailedStatuses) == 0 {
		u.FailedStatuses = words.Failed
	}
	config.Default(&u.TokenStyle, string(ups.TokenStyleForm))
	paths := ups.DefaultPaths()
	config.Default(&u.Paths.Enrich, paths.Enrich)
	config.Default(&u.Paths.Status, paths.Status)
	config.Default(&u.Paths.Token, paths.Token)
	config.Default(&u.Paths.StatusToken, paths.StatusToken)
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
	checkStatusWords(p, u.CompletedStatuses, u.FailedStatuses)
	p.OneOf("token_style", u.TokenStyle, string(ups.TokenStyleForm), string(ups.TokenStyleQuery))
	for _, path := range []struct {
		key, value string
		needs      []string
	}{
		{"paths.enrich", u.Paths.Enrich, []string{"{collection}"}},
		{"paths.status", u.Paths.Status, []string{"{jobId}"}},
		{"paths.token", u.Paths.Token, nil},
		{"paths.status_token", u.Paths.StatusToken, nil},
	} {
		if !strings.HasPrefix(path.value, "/") {
			p.Add(path.key, "%q must begin with /", path.value)
		}
		for _, n := range path.needs {
			if !strings.Contains(path.value, n) {
				p.Add(path.key, "%q must contain %s", path.value, n)
			}
		}
	}
}

// checkStatusWords checks the completed_statuses and failed_statuses of an
// API section: no empty word, and no word in both lists (compared as the
// clients compare them, without regard to case).
func checkStatusWords(p config.Problems, completed, failed []string) {
	seen := map[string]bool{}
	for i, w := range completed {
		if strings.TrimSpace(w) == "" {
			p.Add(fmt.Sprintf("completed_statuses[%d]", i), "must not be empty")
		}
		seen[strings.ToLower(strings.TrimSpace(w))] = true
	}
	for i, w := range failed {
		switch {
		case strings.TrimSpace(w) == "":
			p.Add(fmt.Sprintf("failed_statuses[%d]", i), "must not be empty")
		case seen[strings.ToLower(strings.TrimSpace(w))]:
			p.Add(fmt.Sprintf("failed_statuses[%d]", i), "%q is in completed_statuses too", w)
		}
	}
}

// Options are the client options of the section.
func (u *UPSConfig) Options() ups.Options {
	return ups.Options{
		BaseURL:          u.BaseURL,
		APIKey:           u.APIKey,
		ClientID:         u.ClientID,
		ClientSecret:     u.ClientSecret.Value(),
		TokenStyle:       ups.TokenStyle(u.TokenStyle),
		Paths:            ups.Paths{Enrich: u.Paths.Enrich, Status: u.Paths.Status, Token: u.Paths.Token, StatusToken: u.Paths.StatusToken},
		Statuses:         ups.StatusWords{Completed: u.CompletedStatuses, Failed: u.FailedStatuses},
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
