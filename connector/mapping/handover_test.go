package mapping

import (
	"context"
	"slices"
	"testing"

	"github.com/itchyny/gojq"

	"github.com/contactlab/connector/streams"
)

// unorderedSink is a heldSink that says the order of its Writes means
// nothing (streams.Unordered), as the Contacthub events sink.
type unorderedSink struct{ heldSink }

func (*unorderedSink) Unordered() {}

// In front of a streams.Unordered sink, a Write hands its outputs over as
// soon as they are mapped, whatever an earlier Write is still doing; in
// front of any other sink it waits for the earlier Write's hand-over, so a
// partition's records reach the sink in order.
func TestHandOverWaitsOnlyForOrderedSinks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		inner interface {
			streams.Sink
			values() []string
		}
		// want are the values the inner sink holds once the second Write
		// returned or, for an ordered one, is blocked.
		wantFirst []string
	}{
		{"unordered", &unorderedSink{}, []string{`"fast"`}},
		{"ordered", &heldSink{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			q, err := gojq.Parse(`if .value == "slow" then wait else . end | .value`)
			if err != nil {
				t.Fatal(err)
			}
			code, err := gojq.Compile(q, gojq.WithFunction("wait", 0, 0, func(v any, _ []any) any {
				close(entered)
				<-release
				return v
			}))
			if err != nil {
				t.Fatal(err)
			}
			s := Wrap(tc.inner, &Program{name: "test", code: code, timeout: Timeout})
			noop := func(*streams.Record, error) {}
			slowDone := make(chan struct{})
			go func() {
				defer close(slowDone)
				s.Write(context.Background(), []*streams.Record{{Value: []byte(`"slow"`)}}, noop)
			}()
			<-entered // the first Write is mapping, and stays there until released
			fastDone := make(chan struct{})
			go func() {
				defer close(fastDone)
				s.Write(context.Background(), []*streams.Record{{Offset: 1, Value: []byte(`"fast"`)}}, noop)
			}()
			if tc.wantFirst != nil {
				<-fastDone
				if got := tc.inner.values(); !slices.Equal(got, tc.wantFirst) {
					t.Fatalf("while the first Write maps, the sink holds %q, want %q", got, tc.wantFirst)
				}
			}
			close(release)
			<-slowDone
			<-fastDone
			got := tc.inner.values()
			if tc.wantFirst == nil && !slices.Equal(got, []string{`"slow"`, `"fast"`}) {
				t.Fatalf("the ordered sink got %q, want the first Write's output first", got)
			}
			if len(got) != 2 {
				t.Fatalf("the sink got %q", got)
			}
		})
	}
}
