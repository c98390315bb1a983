package ups

import (
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/contactlab/connector/connector/internal/fifo"
	"github.com/contactlab/connector/schemas"
)

// Job memory is bounded twice: an ended job is forgotten jobRetention after
// it ended, and beyond maxRetainedJobs the oldest ended jobs go first, so a
// soak test cannot exhaust memory. Running jobs are never dropped (their
// records would be lost); the throttling bounds how many there can be.
const (
	jobRetention    = 10 * time.Minute
	maxRetainedJobs = 100_000
)

type jobStatus uint8

const (
	jobRunning jobStatus = iota
	jobCompleted
	jobFailed
)

func (st jobStatus) String() string {
	switch st {
	case jobCompleted:
		return "COMPLETED"
	case jobFailed:
		return "FAILED"
	}
	return "RUNNING"
}

// eventKind says which of the service's status events an event is; its
// text, level and attributes follow from it (status.go).
type eventKind uint8

const (
	eventAccepted    eventKind = iota // SUMMARY: validated and accepted
	eventWritten                      // INFO: written to the store
	eventWriteFailed                  // ERROR: the write failed
)

type jobEvent struct {
	kind             eventKind
	taskID, statusID uuid
	at               time.Time
}

// job is one accepted payload. Fields other than status, ended, records and
// events never change after acceptance.
type job struct {
	id         uuid
	version    int64
	apiKey     string
	collection schemas.Collection
	ownerID    int64
	n          int
	created    time.Time
	due        time.Time
	willFail   bool

	status jobStatus
	ended  time.Time
	// records are held until the job ends, then dropped.
	records []schemas.UPSRecord
	// events only grow, so a copy of the slice header is a stable snapshot.
	events []jobEvent
}

// jobRegistry owns the jobs, from acceptance to being forgotten.
//
// Jobs end lazily: every reader first calls advance, which ends the jobs
// whose time has come. Their duration is one constant, so acceptance order
// is also the order they fall due, and one FIFO queue is enough to apply
// them in version order.
type jobRegistry struct {
	duration time.Duration
	store    *valueStore
	// fails decides, at acceptance, whether a job will end FAILED; tests
	// replace it to choose which jobs fail.
	fails func() bool
	// maxJobs is maxRetainedJobs; tests lower it.
	maxJobs int

	mu          sync.Mutex
	byID        map[uuid]*job
	running     fifo.Queue[*job]
	ended       fifo.Queue[*job]
	lastVersion int64
	accepted    int64
	failed      int64
}

func newJobRegistry(duration time.Duration, failShare float64, store *valueStore) *jobRegistry {
	return &jobRegistry{
		duration: duration,
		store:    store,
		fails:    func() bool { return failShare > 0 && rand.Float64() < failShare },
		maxJobs:  maxRetainedJobs,
		byID:     make(map[uuid]*job),
	}
}

// acceptance is what the enrichment endpoint hands over for a new job.
type acceptance struct {
	apiKey     string
	collection schemas.Collection
	ownerID    int64
	records    []schemas.UPSRecord
}

// accept creates a job and returns its version and id.
func (jr *jobRegistry) accept(a acceptance, now time.Time) (int64, uuid) {
	j := &job{
		id:         newUUID(),
		apiKey:     a.apiKey,
		collection: a.collection,
		ownerID:    a.ownerID,
		n:          len(a.records),
		created:    now,
		due:        now.Add(jr.duration),
		willFail:   jr.fails(),
		records:    a.records,
		events:     []jobEvent{{kind: eventAccepted, taskID: newUUID(), statusID: newUUID(), at: now}},
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	jr.advanceLocked(now)
	// Epoch milliseconds like the real service, but strictly increasing, so
	// that each job has its own version and versions order the jobs.
	j.version = max(now.UnixMilli(), jr.lastVersion+1)
	jr.lastVersion = j.version
	// now was read before the lock, so a request overtaken by another may
	// carry an earlier one; the queue must stay in due order all the same.
	if jr.running.Len() > 0 {
		if last := jr.running.Back(); last.due.After(j.due) {
			j.due = last.due
		}
	}
	jr.byID[j.id] = j
	jr.running.Push(j)
	jr.accepted++
	return j.version, j.id
}

func (jr *jobRegistry) advance(now time.Time) {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	jr.advanceLocked(now)
}

// advanceLocked ends the jobs due by now, in acceptance order, applying the
// records of those that complete, then forgets what is past keeping.
func (jr *jobRegistry) advanceLocked(now time.Time) {
	for jr.running.Len() > 0 && !jr.running.Peek().due.After(now) {
		j := jr.running.Pop()
		j.ended = j.due
		if j.willFail {
			j.status = jobFailed
			jr.failed++
			j.events = append(j.events, jobEvent{kind: eventWriteFailed, taskID: newUUID(), statusID: newUUID(), at: j.ended})
		} else {
			jr.store.apply(j.collection, j.version, j.records)
			j.status = jobCompleted
			j.events = append(j.events, jobEvent{kind: eventWritten, taskID: newUUID(), statusID: newUUID(), at: j.ended})
		}
		j.records = nil
		jr.ended.Push(j)
	}
	for jr.ended.Len() > 0 {
		j := jr.ended.Peek()
		if now.Sub(j.ended) <= jobRetention && len(jr.byID) <= jr.maxJobs {
			break
		}
		jr.ended.Pop()
		delete(jr.byID, j.id)
	}
}

// lookup returns a copy of the job, advanced to now, without its records.
func (jr *jobRegistry) lookup(id uuid, now time.Time) (job, bool) {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	jr.advanceLocked(now)
	j, ok := jr.byID[id]
	if !ok {
		return job{}, false
	}
	cp := *j
	cp.records = nil
	return cp, true
}

// counts returns how many jobs were accepted and how many of them FAILED.
func (jr *jobRegistry) counts(now time.Time) (accepted, failed int64) {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	jr.advanceLocked(now)
	return jr.accepted, jr.failed
}

// uuid is a random (version 4) UUID, kept as bytes so that a retained job
// costs 16 bytes per id rather than a 36-byte string.
type uuid [16]byte

func newUUID() uuid {
	// Job and event ids need to be unique, not unguessable: math/rand is
	// enough and costs no system call on the hot path.
	var u uuid
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

func (u uuid) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// parseUUID reads the 36-character form, in either case.
func parseUUID(s string) (uuid, bool) {
	var u uuid
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var h [32]byte
	copy(h[0:8], s[0:8])
	copy(h[8:12], s[9:13])
	copy(h[12:16], s[14:18])
	copy(h[16:20], s[19:23])
	copy(h[20:], s[24:])
	if _, err := hex.Decode(u[:], h[:]); err != nil {
		return u, false
	}
	return u, true
}
