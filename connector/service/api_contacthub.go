package service

import (
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
)

// contacthubSection is the key of the Contacthub API's section, which the
// contacthub-events sinks and the contacthub-updates sources need.
const contacthubSection = "contacthub"

// ContacthubConfig is the contacthub section: the Contacthub API, shared by
// every sink and source of the workspace.
type ContacthubConfig struct {
	BaseURL     string        `yaml:"base_url"`
	WorkspaceID string        `yaml:"workspace_id"`
	Token       config.Secret `yaml:"token"`
	Timeout     time.Duration `yaml:"timeout"`
	// Throttle: at start the connector reads the workspace throttling and
	// paces itself at Headroom of it; 0 means "read it", a positive value
	// overrides what the API says (requests per minute).
	MaxRequestsPerMinute int     `yaml:"max_requests_per_minute"`
	Headroom             float64 `yaml:"headroom"`
	// MaxEventBytes is Create event's payload limit, on the body as sent:
	// the reference's "64kB", read as 65536 by default; 64000 is the other
	// reading.
	MaxEventBytes int `yaml:"max_event_bytes"`
	// Forbidden is what a 403 on a record's call means: probe (default:
	// dead-letter the record when the token works for a cheap read) or
	// pause (every 403 is a refused token).
	Forbidden string          `yaml:"forbidden"`
	Paths     ContacthubPaths `yaml:"paths"`
}

// ContacthubPaths are the API paths; {workspaceId} is replaced.
type ContacthubPaths struct {
	Events     string `yaml:"events"`
	Throttling string `yaml:"throttling"`
	Updates    string `yaml:"updates"`
	LastOffset string `yaml:"last_offset"`
}

func init() {
	config.RegisterSection(config.Section[ContacthubConfig]{
		Key:      contacthubSection,
		Defaults: contacthubDefaults,
		Validate: validateContacthub,
	})
}

func contacthubDefaults(c *ContacthubConfig) {
	config.Default(&c.BaseURL, "https://api.contactlab.it/hub/v1")
	config.Default(&c.Timeout, 10*time.Second)
	config.Default(&c.Headroom, 0.98)
	config.Default(&c.MaxEventBytes, contacthub.DefaultMaxEventBytes)
	config.Default(&c.Forbidden, contacthub.ForbiddenProbe)
	config.Default(&c.Paths.Events, "/workspaces/{workspaceId}/events")
	config.Default(&c.Paths.Throttling, "/workspaces/{workspaceId}/configuration/throttling")
	config.Default(&c.Paths.Updates, "/workspaces/{workspaceId}/updates")
	config.Default(&c.Paths.LastOffset, "/workspaces/{workspaceId}/updates/last-offset")
}

func validateContacthub(p config.Problems, c *ContacthubConfig) {
	p.Duration("timeout", c.Timeout, 100*time.Millisecond, 10*time.Minute)

	p.HTTPURL("base_url", c.BaseURL)
	p.UUID("workspace_id", c.WorkspaceID)
	p.SecretSet("token", c.Token)
	if c.MaxRequestsPerMinute < 0 {
		p.Add("max_requests_per_minute", "must not be negative")
	}
	p.InRange("max_event_bytes", c.MaxEventBytes, 1024, 16<<20, "a body Contacthub may take")
	p.OneOf("forbidden", c.Forbidden, contacthub.ForbiddenProbe, contacthub.ForbiddenPause)
	if c.Headroom <= 0 || c.Headroom > 1 {
		p.Add("headroom", "%v is not in (0, 1]", c.Headroom)
	}
}

// Options are the client options of the section.
func (c *ContacthubConfig) Options() contacthub.Options {
	return contacthub.Options{
		BaseURL:              c.BaseURL,
		WorkspaceID:          c.WorkspaceID,
		Token:                c.Token.Value(),
		Timeout:              c.Timeout,
		MaxRequestsPerMinute: c.MaxRequestsPerMinute,
		Headroom:             c.Headroom,
		MaxEventBytes:        c.MaxEventBytes,
		Forbidden:            c.Forbidden,
		Paths: contacthub.Paths{
			Events:     c.Paths.Events,
			Throttling: c.Paths.Throttling,
			Updates:    c.Paths.Updates,
			LastOffset: c.Paths.LastOffset,
		},
	}
}

// contacthubConfig is the contacthub section; the builders of the types
// that need it run only when it is there.
func (d *Deps) contacthubConfig() *ContacthubConfig {
	return config.SectionOf[ContacthubConfig](d.Config, contacthubSection)
}
