package streams

import (
	"context"
	"errors"
	"testing"
)

func TestEachRecordAlignsOutcomes(t *testing.T) {
	batch := []*Record{{Offset: 0}, {Offset: 1}, {Offset: 2}}
	bad := errors.New("bad")
	if err := EachRecord(context.Background(), batch, func(context.Context, *Record) error { return nil }); err != nil {
		t.Fatalf("all delivered: %v", err)
	}
	err := EachRecord(context.Background(), batch, func(_ context.Context, r *Record) error {
		if r.Offset == 1 {
			return bad
		}
		return nil
	})
	var be *BatchError
	if !errors.As(err, &be) || len(be.Errs) != 3 || be.Errs[0] != nil || be.Errs[1] != bad || be.Errs[2] != nil {
		t.Fatalf("outcomes %v, want only the second failed", err)
	}
}
