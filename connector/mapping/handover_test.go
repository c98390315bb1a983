package mapping

import (
	"context"
	"slices"
	"testing"

	"github.com/itchyny/gojq"

	"github.com/contactlab/connector/streams"
)

// sequentialSink is a heldSink that keeps an order, as UPS and Contacthub
// customers: the runtime serializes its Writes.
type sequentialSink struct{ heldSink }

func (*sequentialSink) Sequential() bool { return true }

// A mapping is Sequential exactly when the sink it wraps is, so that the
// runtime serializes the Writes of a mapping in front of UPS or customers
// (its only ordering) and no others.
func TestSequentialIsTheWrappedSinks(t *testing.T) {
	prog := &Program{name: "test", timeout: Timeout}
	if !Wrap(&sequentialSink{}, prog).Sequential() {
		t.Fatal("a mapping in front of a Sequential sink is not Sequential")
	}
	if Wrap(&heldSink{}, prog).Sequential() {
		t.Fatal("a mapping in front of a sink that keeps no order is Sequential")
	}
	if !streams.IsSequential(Wrap(Wrap(&sequentialSink{}, prog), prog)) {
		t.Fatal("a mapping in front of a mapping in front of a Sequential sink is not Sequential")
	}
}

// A Write hands its outputs over as soon as they are mapped, whatever an
// earlier Write is still doing: the order of hand-over is the runtime's,
// which calls a Sequential sink's Writes one at a time, so a slow mapping
// in front of a sink that keeps no order holds up no other.
func TestWriteHandsOverAsSoonAsMapped(t *testing.T) {
	inner := &heldSink{}
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
	s := Wrap(inner, &Program{name: "test", code: code, timeout: Timeout})
	noop := func(*streams.Record, error) {}
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		s.Write(context.Background(), []*streams.Record{{Value: []byte(`"slow"`)}}, noop)
	}()
	<-entered // the first Write is mapping, and stays there until released
	s.Write(context.Background(), []*streams.Record{{Offset: 1, Value: []byte(`"fast"`)}}, noop)
	if got := inner.values(); !slices.Equal(got, []string{`"fast"`}) {
		t.Fatalf("while the first Write maps, the sink holds %q, want the second Write's output", got)
	}
	close(release)
	<-slowDone
	if got := inner.values(); !slices.Equal(got, []string{`"fast"`, `"slow"`}) {
		t.Fatalf("the sink got %q", got)
	}
}
