package enablenow_test

import (
	"testing"

	"github.com/contactlab/connector/connector/enablenow"
)

func TestIdempotencyKey(t *testing.T) {
	base := enablenow.IdempotencyKey("t", 1, 42, []byte("k"), []byte(`{"userId":"u"}`))
	// Pinned: if what the key covers changes, every record redelivered
	// across the upgrade gets a new key and a second job. Change it only
	// deliberately, with a new idempotencyScheme, and say so in the notes.
	if want := "8402a6f6e9303922fae5f6cb0a16037d140eb1ccfc223b94291fe8eb8b6cccf3"; base != want {
		t.Fatalf("key scheme changed: got %s, want %s", base, want)
	}
	if again := enablenow.IdempotencyKey("t", 1, 42, []byte("k"), []byte(`{"userId":"u"}`)); again != base {
		t.Fatal("the same record gave two keys: a redelivery would create a second job")
	}
	for name, other := range map[string]string{
		"another topic":     enablenow.IdempotencyKey("u", 1, 42, []byte("k"), []byte(`{"userId":"u"}`)),
		"another partition": enablenow.IdempotencyKey("t", 2, 42, []byte("k"), []byte(`{"userId":"u"}`)),
		// Equal requests in two records are two requests.
		"another offset": enablenow.IdempotencyKey("t", 1, 43, []byte("k"), []byte(`{"userId":"u"}`)),
		// A recreated topic reuses coordinates for other records.
		"another value": enablenow.IdempotencyKey("t", 1, 42, []byte("k"), []byte(`{"userId":"v"}`)),
		"another key":   enablenow.IdempotencyKey("t", 1, 42, []byte("j"), []byte(`{"userId":"u"}`)),
		// Fields are length-prefixed: moving bytes between key and value
		// changes the key.
		"bytes moved from key to value": enablenow.IdempotencyKey("t", 1, 42, nil, []byte(`k{"userId":"u"}`)),
	} {
		if other == base {
			t.Errorf("%s gives the same key", name)
		}
	}
}
