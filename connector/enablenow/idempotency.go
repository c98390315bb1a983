package enablenow

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"github.com/contactlab/connector/streams"
)

// idempotencyScheme is hashed first, so that a future change of what the key
// covers can never produce the key of an older scheme.
const idempotencyScheme = "connector/enablenow/idempotency-key/v1"

// IdempotencyKey is the Idempotency-Key sent when creating the job of the
// record at topic/partition/offset with this key and value: the hex SHA-256
// of the record's coordinates and of its content.
//
// The coordinates make it the same for every delivery of one record (a
// retry, a redelivery after a crash or a rebalance), so the API answers a
// repeated creation with the job the first one made, and different for two
// records that carry equal requests, which are two requests. The content
// guards the case where the coordinates are reused for another record (a
// topic deleted and created again): without it the API would see a known
// key with a different request and refuse it (422), dead-lettering a valid
// request.
//
// It is 64 characters, well inside the 255 that APIs with this header
// commonly accept, and holds no customer data.
func IdempotencyKey(topic string, partition int, offset int64, key, value []byte) string {
	content := sha256.New()
	writeField(content, key)
	writeField(content, value)
	var contentSum [sha256.Size]byte

	h := sha256.New()
	writeField(h, []byte(idempotencyScheme))
	writeField(h, []byte(topic))
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], uint64(partition))
	binary.BigEndian.PutUint64(n[8:], uint64(offset))
	h.Write(n[:])
	h.Write(content.Sum(contentSum[:0]))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// RecordIdempotencyKey is IdempotencyKey of r.
func RecordIdempotencyKey(r *streams.Record) string {
	return IdempotencyKey(r.Topic, r.Partition, r.Offset, r.Key, r.Value)
}

// writeField length-prefixes b, so that no two different field lists run
// together into the same bytes (topic "a"+"bc" versus "ab"+"c").
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
