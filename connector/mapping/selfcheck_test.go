package mapping

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// selfChecking answers each output with check's verdict, as the Contacthub
// events sink does with its own decoding (SelfChecking).
type selfChecking struct {
	perValue
}

func (selfChecking) ChecksEveryRecord() {}

// In front of a SelfChecking sink a lone output is not checked first: the
// sink's own check dead-letters it, with the same reason and error as the
// check before handing over would have; several outputs are still checked
// first, so that none is sent when one is invalid.
func TestLoneOutputCheckedBySelfCheckingSink(t *testing.T) {
	check := func(v []byte) error {
		if strings.Contains(string(v), `"sku":"b"`) {
			return errors.New(`event: $.properties.sku: must not be b`)
		}
		return nil
	}
	for _, tc := range []struct {
		name, program string
		selfChecking  bool
		wantChecks    int // calls of check before anything is handed over
		wantSent      int
	}{
		{"lone output, self-checking sink", `.value.items[1]`, true, 0, 1},
		{"lone output, other sink", `.value.items[1]`, false, 1, 0},
		{"fan-out, self-checking sink", `.value.items[]`, true, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var checks, sent int
			answer := perValue(func(v string) error {
				sent++
				if err := check([]byte(v)); err != nil {
					return streams.Reject("invalid", err)
				}
				return nil
			})
			var inner streams.Sink = answer
			if tc.selfChecking {
				inner = selfChecking{answer}
			}
			counted := func(v []byte) error { checks++; return check(v) }
			s := Wrap(inner, mustCompile(t, tc.program), WithCheck(counted))
			var got error
			n := 0
			s.Write(context.Background(), []*streams.Record{record(`{"items":[{"sku":"a"},{"sku":"b"}]}`)}, func(_ *streams.Record, err error) {
				got, n = err, n+1
			})
			if n != 1 {
				t.Fatalf("%d outcomes", n)
			}
			if delivery.ReasonOf(got) != "invalid" || !errors.Is(got, streams.ErrRejected) || !strings.Contains(got.Error(), "$.properties.sku: must not be b") {
				t.Fatalf("outcome %v (reason %q), want invalid with the check's error", got, delivery.ReasonOf(got))
			}
			if checks != tc.wantChecks || sent != tc.wantSent {
				t.Fatalf("checked %d and sent %d outputs, want %d and %d", checks, sent, tc.wantChecks, tc.wantSent)
			}
		})
	}
}
