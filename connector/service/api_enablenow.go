package service

import (
	"fmt"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/enablenow"
)

// enablenowSection is the key of the EnableNow API's section, which the
// enablenow sinks need.
const enablenowSection = "enablenow"

// EnableNowConfig is the enablenow section: the EnableNow categorization
// API, shared by every enablenow sink.
type EnableNowConfig struct {
	BaseURL string        `yaml:"base_url"`
	Token   config.Secret `yaml:"token"`
	Timeout time.Duration `yaml:"timeout"`
	// AuthHeader carries the credential (default Authorization); AuthScheme
	// prefixes it (default Bearer; empty for API-key headers).
	AuthHeader string  `yaml:"auth_header"`
	AuthScheme *string `yaml:"auth_scheme"`
	// JobsPath and JobStatusPath ({id} replaced) are overridable.
	JobsPath      string `yaml:"jobs_path"`
	JobStatusPath string `yaml:"job_status_path"`
	// TerminalStatuses are the job statuses after which a job changes no
	// more (compared case-insensitively). The reference documents none, so
	// they are configurable; default Completed, Failed, Cancelled. A job
	// that never reaches one is followed until monitor_timeout.
	TerminalStatuses []string `yaml:"terminal_statuses"`
	// CompletedStatuses and FailedStatuses say how a job ended (the
	// results' outcome), among the terminal statuses; default Completed,
	// and Failed, Cancelled.
	CompletedStatuses []string `yaml:"completed_statuses"`
	FailedStatuses    []string `yaml:"failed_statuses"`
	// Forbidden is what a 403 means: probe (default: when the credential
	// works for a cheap read, the 403 is the record's: its creation is
	// dead-lettered, its job no longer followed) or pause (every 403 is a
	// refused credential). ProbePath is that read, a GET ({id} replaced;
	// default job_status_path), since the reference documents none.
	Forbidden string `yaml:"forbidden"`
	ProbePath string `yaml:"probe_path"`
}

func init() {
	config.RegisterSection(config.Section[EnableNowConfig]{
		Key:      enablenowSection,
		Defaults: enablenowDefaults,
		Validate: validateEnableNow,
	})
}

func enablenowDefaults(e *EnableNowConfig) {
	config.Default(&e.BaseURL, "https://api.enablenow.nl")
	config.Default(&e.Timeout, 30*time.Second)
	config.Default(&e.AuthHeader, "Authorization")
	if e.AuthScheme == nil {
		s := "Bearer"
		e.AuthScheme = &s
	}
	config.Default(&e.JobsPath, "/v2/categorization-jobs")
	config.Default(&e.JobStatusPath, "/v2/categorization-jobs/{id}")
	config.Default(&e.Forbidden, enablenow.ForbiddenProbe)
	config.Default(&e.ProbePath, e.JobStatusPath)
	if len(e.TerminalStatuses) == 0 {
		e.TerminalStatuses = []string{"Completed", "Failed", "Cancelled"}
	}
	if len(e.CompletedStatuses) == 0 {
		e.CompletedStatuses = []string{"Completed"}
	}
	if len(e.FailedStatuses) == 0 {
		e.FailedStatuses = []string{"Failed", "Cancelled"}
	}
}

func validateEnableNow(p config.Problems, e *EnableNowConfig) {
	p.Duration("timeout", e.Timeout, 100*time.Millisecond, 10*time.Minute)

	p.HTTPURL("base_url", e.BaseURL)
	p.SecretSet("token", e.Token)
	if !strings.Contains(e.JobStatusPath, "{id}") {
		p.Add("job_status_path", "must contain {id}")
	}
	for i, st := range e.TerminalStatuses {
		if strings.TrimSpace(st) == "" {
			p.Add(fmt.Sprintf("terminal_statuses[%d]", i), "must not be empty")
		}
	}
	checkStatusWords(p, e.CompletedStatuses, e.FailedStatuses)
	p.OneOf("forbidden", e.Forbidden, enablenow.ForbiddenProbe, enablenow.ForbiddenPause)
}

// Options are the client options of the section.
func (e *EnableNowConfig) Options() enablenow.Options {
	var scheme string
	if e.AuthScheme != nil {
		scheme = *e.AuthScheme
	}
	return enablenow.Options{
		BaseURL:           e.BaseURL,
		Token:             e.Token.Value(),
		Timeout:           e.Timeout,
		AuthHeader:        e.AuthHeader,
		AuthScheme:        scheme,
		JobsPath:          e.JobsPath,
		JobStatusPath:     e.JobStatusPath,
		TerminalStatuses:  e.TerminalStatuses,
		CompletedStatuses: e.CompletedStatuses,
		FailedStatuses:    e.FailedStatuses,
		Forbidden:         e.Forbidden,
		ProbePath:         e.ProbePath,
	}
}

// enablenowConfig is the enablenow section; the builders of the types that
// need it run only when it is there.
func (d *Deps) enablenowConfig() *EnableNowConfig {
	return config.SectionOf[EnableNowConfig](d.Config, enablenowSection)
}
