package config_test

import (
	"strings"
	"testing"

	"github.com/contactlab/connector/connector/config"
)

func TestConcurrencyForms(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want config.Concurrency
		err  string
	}{
		{"", config.Concurrency{Auto: true, Min: 8, Max: 512}, ""}, // the events default
		{"concurrency: 128", config.Concurrency{Fixed: 128}, ""},
		{"concurrency: auto", config.Concurrency{Auto: true, Min: 8, Max: 512}, ""},
		{"concurrency: {min: 4, max: 64}", config.Concurrency{Auto: true, Min: 4, Max: 64}, ""},
		{"concurrency: {max: 64}", config.Concurrency{Auto: true, Min: 8, Max: 64}, ""},
		{"concurrency: 2.5", config.Concurrency{}, "not a whole number"},
		{"concurrency: lots", config.Concurrency{}, "not a number, auto, or {min, max}"},
		{"concurrency: {min: 64, max: 4}", config.Concurrency{}, "concurrency.max: 4 is not in 64..4096"},
		{"concurrency: {min: 1, most: 4}", config.Concurrency{}, "unknown key"},
	} {
		doc := strings.Replace(base, "    topics: [web.events]\n", "    topics: [web.events]\n    "+tc.yaml+"\n", 1)
		c, err := config.Parse([]byte(doc), noEnv)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if got := c.Sinks[0].Concurrency; got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.yaml, got, tc.want)
		}
	}
}
