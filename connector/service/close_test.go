package service_test

import (
	"testing"

	"github.com/contactlab/connector/connector/service"
)

// Close closes the producers the service made, and may be called twice
// and without Run.
func TestServiceCloseIsIdempotent(t *testing.T) {
	cfg := parseConfig(t, `
kafka: {brokers: ["127.0.0.1:1"]}
enablenow: {token: t}
sinks:
  - {name: cat, type: enablenow, topics: [in]}
`)
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := svc.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
}
