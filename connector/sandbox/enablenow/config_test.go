package enablenow

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

func TestConfigValidate(t *testing.T) {
	bad := []struct {
		name string
		cfg  Config
		key  string
	}{
		// Without a token every request would be refused, or worse, an empty
		// bearer would match an empty header.
		{"no token", Config{}, "Token"},
		// A token with a space cannot be sent unchanged in a header.
		{"token with space", Config{Token: "a b"}, "Token"},
		{"header with colon", Config{Token: "t", AuthHeader: "X-Key:"}, "AuthHeader"},
		{"header with space", Config{Token: "t", AuthHeader: "X Key"}, "AuthHeader"},
		{"empty step", Config{Token: "t", StatusSteps: []string{"Queued", " "}}, "StatusSteps"},
		// Failed as a step would make every job look failed for a while.
		{"Failed as a step", Config{Token: "t", StatusSteps: []string{"Queued", "Failed", "Done"}}, "StatusSteps"},
		// A repeated step makes "the status changed" undecidable.
		{"repeated step", Config{Token: "t", StatusSteps: []string{"Queued", "Queued"}}, "StatusSteps"},
		{"negative interval", Config{Token: "t", StepInterval: -time.Second}, "StepInterval"},
		{"fail share above 1", Config{Token: "t", FailShare: 1.5}, "FailShare"},
		{"fail share negative", Config{Token: "t", FailShare: -0.1}, "FailShare"},
		// NaN compares false with everything, so a naive range check lets it pass.
		{"fail share NaN", Config{Token: "t", FailShare: math.NaN()}, "FailShare"},
		{"reset share above 1", Config{Token: "t", ResetAfterCreateShare: 2}, "ResetAfterCreateShare"},
		{"negative window", Config{Token: "t", IdempotencyWindow: -time.Hour}, "IdempotencyWindow"},
		{"negative key bound", Config{Token: "t", MaxIdempotencyKeys: -1}, "MaxIdempotencyKeys"},
		{"negative job bound", Config{Token: "t", MaxJobs: -1}, "MaxJobs"},
		// An empty subject names nobody: a typo that would forbid nothing.
		{"empty forbidden subject", Config{Token: "t", ForbiddenSubjects: []string{"c-1", ""}}, "ForbiddenSubjects"},
		{"fault share above 1", Config{Token: "t", Faults: fault.Settings{ServerErrorShare: 1.1}}, "Faults.ServerErrorShare"},
		{"fault throttle negative", Config{Token: "t", Faults: fault.Settings{ThrottleShare: -1}}, "Faults.ThrottleShare"},
		{"fault reset NaN", Config{Token: "t", Faults: fault.Settings{ResetShare: math.NaN()}}, "Faults.ResetShare"},
		{"fault latency negative", Config{Token: "t", Faults: fault.Settings{Latency: -1}}, "Faults.Latency"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate() = %v, want a *ConfigError", err)
			}
			if ce.Key != tc.key {
				t.Errorf("Validate() names %q (%v), want %q", ce.Key, err, tc.key)
			}
			if _, err := New(tc.cfg); !errors.As(err, &ce) {
				t.Errorf("New() = %v, want a *ConfigError", err)
			}
		})
	}

	good := []struct {
		name string
		cfg  Config
	}{
		{"only token", Config{Token: "t"}},
		{"api key header", Config{Token: "t", AuthHeader: "X-Api-Key"}},
		{"one step", Config{Token: "t", StatusSteps: []string{"Done"}}},
		{"shares at the bounds", Config{Token: "t", FailShare: 1, ResetAfterCreateShare: 0}},
		{"revoked, with forbidden subjects", Config{Token: "t", Revoked: true, ForbiddenSubjects: []string{"c-1"}}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// Every bad setting is reported at once, so an operator fixes them in one go.
func TestConfigValidateReportsAll(t *testing.T) {
	err := Config{FailShare: 2, StepInterval: -1}.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %v, want the errors joined", err)
	}
	keys := map[string]bool{}
	for _, e := range joined.Unwrap() {
		var ce *ConfigError
		if errors.As(e, &ce) {
			keys[ce.Key] = true
		}
	}
	for _, k := range []string{"Token", "FailShare", "StepInterval"} {
		if !keys[k] {
			t.Errorf("Validate() = %v; %s not reported", err, k)
		}
	}
}

// The caller's slice must not reach into a running server.
func TestConfigStepsCopied(t *testing.T) {
	steps := []string{"A", "B"}
	srv, err := New(Config{Token: "t", StatusSteps: steps})
	if err != nil {
		t.Fatal(err)
	}
	steps[0] = "Changed"
	if got := srv.progression.steps[0]; got != "A" {
		t.Errorf("first step = %q after the caller changed its slice, want A", got)
	}
}

func TestConfigUsesBearer(t *testing.T) {
	for header, want := range map[string]bool{"": true, "Authorization": true, "authorization": true, "X-Api-Key": false} {
		if got := (Config{AuthHeader: header}).withDefaults().usesBearer(); got != want {
			t.Errorf("AuthHeader %q: usesBearer = %v, want %v", header, got, want)
		}
	}
}
