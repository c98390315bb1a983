package demo

import (
	"bytes"
	"errors"
	"testing"

	"github.com/contactlab/connector/schemas"
)

// The generator's valid flag must agree with the connector's decoder, or the
// demo's counts (and the integration test) would lie.
func TestCategorizationTrafficAgreesWithTheDecoder(t *testing.T) {
	g := NewCategorizationTraffic(1)
	g.InvalidShare = 0.2
	rules := map[string]int{}
	invalid := 0
	const n = 5000
	for range n {
		k, v, valid := g.Next()
		if len(k) == 0 {
			t.Fatalf("no key for %s", v)
		}
		_, err := schemas.DecodeCategorizationRequest(v)
		if valid != (err == nil) {
			t.Fatalf("valid=%v but the decoder says %v: %s", valid, err, v)
		}
		var ve *schemas.ValidationError
		if errors.As(err, &ve) {
			invalid++
			for _, viol := range ve.Violations {
				rules[viol.Rule]++
			}
		}
	}
	if invalid < n/10 || invalid > n*3/10 {
		t.Fatalf("%d invalid of %d at share 0.2", invalid, n)
	}
	// Every rule of the reference is broken now and then.
	if len(rules) < 8 {
		t.Fatalf("only %d distinct rules broken: %v", len(rules), rules)
	}
}

func TestCategorizationTrafficIsDeterministic(t *testing.T) {
	a, b := NewCategorizationTraffic(9), NewCategorizationTraffic(9)
	for range 100 {
		ka, va, _ := a.Next()
		kb, vb, _ := b.Next()
		if !bytes.Equal(ka, kb) || !bytes.Equal(va, vb) {
			t.Fatalf("same seed, different requests: %s / %s", va, vb)
		}
	}
}
