package contacthub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams/streamstest"
)

func loadOffset(t *testing.T, s *OffsetStore) (int64, bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Load(ctx)
}

func TestOffsetStore(t *testing.T) {
	addr := streamstest.Broker(t, 1, "offsets")
	ctx := context.Background()
	a, err := NewOffsetStore([]string{addr}, "offsets", "a", testWorkspace)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := NewOffsetStore([]string{addr}, "offsets", "b", testWorkspace)
	defer b.Close()

	if off, ok, err := loadOffset(t, a); err != nil || ok {
		t.Fatalf("empty topic: %d %v %v", off, ok, err)
	}
	for _, o := range []int64{5, 9} {
		if err := a.Store(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Store(ctx, 100); err != nil {
		t.Fatal(err)
	}
	// The last record of the source's own key wins.
	if off, ok, err := loadOffset(t, a); err != nil || !ok || off != 9 {
		t.Fatalf("a: %d %v %v, want 9", off, ok, err)
	}

	// An operator moves a source by hand, or resets it with a tombstone.
	streamstest.Produce(t, addr, "offsets", kafka.Message{Key: []byte("a"), Value: []byte(`{"offset": 3}`)})
	if off, ok, err := loadOffset(t, a); err != nil || !ok || off != 3 {
		t.Fatalf("after a hand-written record: %d %v %v, want 3", off, ok, err)
	}
	streamstest.Produce(t, addr, "offsets", kafka.Message{Key: []byte("a")})
	if off, ok, err := loadOffset(t, a); err != nil || ok {
		t.Fatalf("after a tombstone: %d %v %v, want none", off, ok, err)
	}
	if off, ok, err := loadOffset(t, b); err != nil || !ok || off != 100 {
		t.Fatalf("b: %d %v %v, want 100", off, ok, err)
	}
}

// A source renamed workspace without a new name must not resume from the
// other workspace's offset.
func TestOffsetStoreRefusesAnotherWorkspace(t *testing.T) {
	addr := streamstest.Broker(t, 1, "offsets")
	other, _ := NewOffsetStore([]string{addr}, "offsets", "src", "b2a02e56-a6da-4b02-b80e-d32fdf441aaf")
	defer other.Close()
	if err := other.Store(context.Background(), 42); err != nil {
		t.Fatal(err)
	}
	s, _ := NewOffsetStore([]string{addr}, "offsets", "src", testWorkspace)
	defer s.Close()
	if _, _, err := loadOffset(t, s); !errors.Is(err, ErrForeignOffset) {
		t.Fatalf("Load returned %v, want ErrForeignOffset", err)
	}
}

// Before the service created it, the topic holds nothing.
func TestOffsetStoreMissingTopic(t *testing.T) {
	addr := streamstest.Broker(t, 1)
	s, _ := NewOffsetStore([]string{addr}, "nope", "src", testWorkspace)
	defer s.Close()
	if off, ok, err := loadOffset(t, s); err != nil || ok {
		t.Fatalf("missing topic: %d %v %v", off, ok, err)
	}
}
