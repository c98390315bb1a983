package enablenow

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"time"

	"github.com/contactlab/connector/connector/internal/fifo"
)

const (
	idempotencyKeyHeader = "Idempotency-Key"
	// replayedHeader marks an answer that repeats an earlier creation, so a
	// client can tell a retry that landed from a new job.
	replayedHeader = "Idempotent-Replayed"
	// maxIdempotencyKeyLen bounds the memory one remembered key can take;
	// 255 is what public APIs with this header commonly accept.
	maxIdempotencyKeyLen = 255
)

// idempotencyKeys remembers which job each Idempotency-Key created, for a
// window counted from the creation and for at most max keys. It has no lock
// of its own: jobStore.mu guards it, because the lookup and the creation it
// prevents must happen under one lock.
//
// Keys are remembered in creation order, and every key has the same window,
// so the oldest key is always the first to expire: a queue is enough, and
// expiry costs nothing while no key is due.
type idempotencyKeys struct {
	window time.Duration
	max    int
	byKey  map[string]*job
	order  fifo.Queue[*job] // jobs that carry a remembered key, oldest first
}

func newIdempotencyKeys(window time.Duration, maxKeys int) idempotencyKeys {
	return idempotencyKeys{window: window, max: maxKeys, byKey: make(map[string]*job)}
}

// lookup returns the job created with key, or nil when the key is unknown or
// its window has passed.
func (k *idempotencyKeys) lookup(key string, now time.Time) *job {
	k.expire(now)
	return k.byKey[key]
}

// remember records that j was created with j.key. When the bound is reached
// the oldest key is forgotten although its window is still open: a retry of
// it would then create a second job. That is the price of bounded memory,
// and the default bound is far above what a test sends within a window.
func (k *idempotencyKeys) remember(j *job, now time.Time) {
	k.expire(now)
	k.byKey[j.key] = j
	k.order.Push(j)
	for k.order.Len() > k.max {
		k.forget(k.order.Pop())
	}
}

func (k *idempotencyKeys) expire(now time.Time) {
	for k.order.Len() > 0 && now.Sub(k.order.Peek().createdAt) >= k.window {
		k.forget(k.order.Pop())
	}
}

// forget drops j's key unless the key already points at a newer job.
func (k *idempotencyKeys) forget(j *job) {
	if k.byKey[j.key] == j {
		delete(k.byKey, j.key)
	}
}

// fingerprint identifies a request by its meaning, after defaults, not by its
// bytes: a client that re-encodes the same request (another key order, other
// spacing, defaults spelled out or left out) is retrying, not changing its
// mind. Each field is length-prefixed so that no two different requests can
// run their fields together into the same bytes.
func fingerprint(r *Request) [sha256.Size]byte {
	h := sha256.New()
	if r.Body != nil {
		// Another engine: the request's own fields, in a canonical form.
		writeField(h, canonicalJSON(r.Body))
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		return sum
	}
	for _, s := range []string{r.Engine, r.Profile, r.CountryCode, r.ConsentID, r.UserID, r.ExternalUserID} {
		writeField(h, []byte(s))
	}
	// The count keeps the ids apart from the metaData written after them.
	_ = binary.Write(h, binary.BigEndian, int64(len(r.AccountIDs)))
	for _, id := range r.AccountIDs {
		writeField(h, []byte(id))
	}
	writeField(h, normalMetaData(r.MetaData))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func writeField(h hash.Hash, b []byte) {
	_ = binary.Write(h, binary.BigEndian, int64(len(b)))
	h.Write(b)
}

// canonicalJSON re-encodes a JSON value with its object members sorted and
// no spacing, so that two encodings of one request compare equal.
func canonicalJSON(raw []byte) []byte {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// normalMetaData makes every spelling of "no metaData" the same, since
// the rules accept absent, null, {}, [] and "" as empty and a client
// may switch between them on a retry.
func normalMetaData(raw []byte) []byte {
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		return raw
	}
	switch compact.String() {
	case "", "null", "{}", "[]", `""`:
		return nil
	}
	return compact.Bytes()
}
