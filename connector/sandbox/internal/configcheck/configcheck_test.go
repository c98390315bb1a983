package configcheck

import (
	"fmt"
	"slices"
	"testing"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

func TestTableErrors(t *testing.T) {
	type row struct {
		field  string
		bad    bool
		reason string
	}
	tests := []struct {
		name   string
		rows   []row
		faults fault.Settings
		want   []string // "field: reason", in order; none means nil
	}{
		{"nothing bad", []row{{"A", false, "r"}}, fault.Settings{}, nil},
		// Every bad row is reported, in table order, before the faults.
		{"rows then faults", []row{{"A", true, "ra"}, {"B", false, "rb"}, {"C", true, "rc"}},
			fault.Settings{ServerErrorShare: 2}, []string{"A: ra", "C: rc", "Faults.ServerErrorShare: must be within 0..1"}},
		{"only faults", nil, fault.Settings{Latency: -1}, []string{"Faults.Latency: must be >= 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var table Table
			for _, r := range tt.rows {
				table.Check(r.field, r.bad, r.reason)
			}
			err := table.Errors(tt.faults, func(field, reason string) error { return fmt.Errorf("%s: %s", field, reason) })
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Errors = %v, want nil", err)
				}
				return
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("errors %q, want %q", got, tt.want)
			}
		})
	}
}
