package enablenow

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/contactlab/connector/connector/internal/fifo"
)

// maxRequestBytes bounds a request body. The reference states no limit; a
// categorization request is a few hundred bytes, so anything near this is a
// client bug, and the bound keeps a broken client from filling memory.
const maxRequestBytes = 1 << 20

// Job is a snapshot of a categorization job.
type Job struct {
	ID string
	// Status is the status at the time of the snapshot.
	Status string
	// IdempotencyKey is the Idempotency-Key header the job was created
	// with; empty when there was none.
	IdempotencyKey string
	// Request is the request as the job saw it, defaults applied.
	Request   Request
	CreatedAt time.Time
}

// job is what the store keeps. It never changes after creation: the status
// is derived from createdAt, so readers need no lock once they hold it.
type job struct {
	id          string
	key         string
	fingerprint [sha256.Size]byte // of req; set only when key is
	req         Request
	createdAt   time.Time // keeps the monotonic reading, for elapsed time
	fails       bool      // decided at creation by Config.FailShare
}

// progression turns the age of a job into its status.
type progression struct {
	steps    []string
	failed   string
	interval time.Duration
}

// statusAt is computed on every read instead of being advanced by a timer,
// so a server holding many jobs runs no goroutine and no timer for them.
func (p progression) statusAt(j *job, now time.Time) string {
	last := len(p.steps) - 1
	i := last
	if elapsed := now.Sub(j.createdAt); elapsed < time.Duration(last)*p.interval {
		i = max(0, int(elapsed/p.interval))
	}
	if i == last && j.fails {
		// A failing job goes through the same steps and fails when it would
		// have completed, as a real job fails after having run.
		return p.failed
	}
	return p.steps[i]
}

func (p progression) snapshot(j *job, now time.Time) Job {
	req := j.req
	// Deep copy: the caller may change what it gets without changing the job.
	req.AccountIDs = slices.Clone(req.AccountIDs)
	req.MetaData = bytes.Clone(req.MetaData)
	req.Body = bytes.Clone(req.Body)
	return Job{
		ID:             j.id,
		Status:         p.statusAt(j, now),
		IdempotencyKey: j.key,
		Request:        req,
		CreatedAt:      j.createdAt.UTC(),
	}
}

// jobResource is a job on the wire, for both creation and monitoring. The
// reference shows neither answer; this one names the job and its status,
// and echoes the request's documented fields (those of e1).
type jobResource struct {
	ID             string    `json:"id,omitempty"`
	Status         string    `json:"status,omitempty"`
	Engine         string    `json:"engine"`
	Profile        string    `json:"profile,omitempty"`
	CountryCode    string    `json:"countryCode,omitempty"`
	ConsentID      string    `json:"consentId,omitempty"`
	UserID         string    `json:"userId,omitempty"`
	ExternalUserID string    `json:"externalUserId,omitempty"`
	AccountIDs     []string  `json:"accountIds,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
}

func (p progression) resource(j *job, now time.Time) jobResource {
	return jobResource{
		ID:             j.id,
		Status:         p.statusAt(j, now),
		Engine:         j.req.Engine,
		Profile:        j.req.Profile,
		CountryCode:    j.req.CountryCode,
		ConsentID:      j.req.ConsentID,
		UserID:         j.req.UserID,
		ExternalUserID: j.req.ExternalUserID,
		AccountIDs:     j.req.AccountIDs,
		CreatedAt:      j.createdAt.UTC(),
	}
}

// createOutcome is what jobStore.create did with a request.
type createOutcome int

const (
	outcomeCreated     createOutcome = iota
	outcomeReplayed                  // the key was remembered with the same request
	outcomeKeyConflict               // the key was remembered with another request
)

// jobStore keeps the jobs and the idempotency keys under one lock, because
// looking a key up and creating the job must be one step: otherwise two
// concurrent retries of one request could both miss the key and both create
// a job, the very duplicate the key exists to prevent.
type jobStore struct {
	now func() time.Time
	max int

	mu    sync.Mutex
	byID  map[string]*job
	order fifo.Queue[*job] // retained jobs, oldest first
	keys  idempotencyKeys
}

func newJobStore(cfg Config) *jobStore {
	return &jobStore{
		now:  cfg.Now,
		max:  cfg.MaxJobs,
		byID: make(map[string]*job),
		keys: newIdempotencyKeys(cfg.IdempotencyWindow, cfg.MaxIdempotencyKeys),
	}
}

// create stores candidate, unless its idempotency key is remembered: then it
// returns the job the key created. It sets candidate.createdAt under the lock
// so that creation order and createdAt order agree, which key expiry relies on.
func (s *jobStore) create(candidate *job) (*job, createOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if candidate.key != "" {
		if prev := s.keys.lookup(candidate.key, now); prev != nil {
			if prev.fingerprint != candidate.fingerprint {
				return prev, outcomeKeyConflict
			}
			return prev, outcomeReplayed
		}
	}
	candidate.createdAt = now
	s.byID[candidate.id] = candidate
	s.order.Push(candidate)
	for s.order.Len() > s.max {
		delete(s.byID, s.order.Pop().id)
	}
	if candidate.key != "" {
		s.keys.remember(candidate, now)
	}
	return candidate, outcomeCreated
}

func (s *jobStore) get(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// retained returns the retained jobs, oldest first. The jobs are immutable,
// so the caller may read them after the lock is released.
func (s *jobStore) retained() []*job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order.Items())
}

// newJobID returns a random (version 4) UUID.
func newJobID() string { return uuid.NewString() }

// createJob serves POST /v2/categorization-jobs.
func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		s.stats.rejected.Add(1)
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, apiError{
				Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit),
				Errors:  []fieldError{{Path: "$", Message: fmt.Sprintf("must be at most %d bytes", mbe.Limit)}},
			})
			return
		}
		writeError(w, http.StatusBadRequest, apiError{
			Message: "reading request body: " + err.Error(),
			Errors:  []fieldError{{Path: "$", Message: err.Error()}},
		})
		return
	}
	key := r.Header.Get(idempotencyKeyHeader)
	if len(key) > maxIdempotencyKeyLen {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusBadRequest, apiError{
			Message: fmt.Sprintf("%s is longer than %d bytes", idempotencyKeyHeader, maxIdempotencyKeyLen),
			Errors:  []fieldError{{Path: idempotencyKeyHeader, Message: "too long"}},
		})
		return
	}
	req, broken := readRequest(body, s.cfg.Engines)
	if broken != nil {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusBadRequest, invalidRequest(broken))
		return
	}
	// After the reference's rules, as Contacthub's stand-in checks its
	// aggregate nodes: a request that breaks one is refused for it first.
	if s.refuseSubject(w, &req, "categorize") {
		return
	}

	candidate := &job{
		id:  newJobID(),
		key: key,
		req: req,
		// Float64 is in [0, 1), so share 0 never fails and share 1 always does.
		fails: rand.Float64() < s.cfg.FailShare,
	}
	if key != "" {
		candidate.fingerprint = fingerprint(&req)
	}
	j, outcome := s.jobs.create(candidate)

	switch outcome {
	case outcomeKeyConflict:
		s.stats.rejected.Add(1)
		writeError(w, http.StatusUnprocessableEntity, apiError{
			Message: fmt.Sprintf("%s %q was already used with a different request (job %s)", idempotencyKeyHeader, key, j.id),
			Errors:  []fieldError{{Path: idempotencyKeyHeader, Message: "reused with a different request"}},
		})
		return
	case outcomeReplayed:
		s.stats.replayed.Add(1)
		w.Header().Set(replayedHeader, "true")
		s.writeJob(w, http.StatusOK, j, true)
		return
	}
	s.stats.created.Add(1)
	// Only a new job may lose its answer: a replay that was reset too would
	// leave a client with a share of 1 no way to ever learn its job.
	if s.drawResetAfterCreate() {
		s.stats.resetsAfterCreate.Add(1)
		resetConnection(w)
		return
	}
	s.writeJob(w, http.StatusCreated, j, false)
}

// writeJob answers a creation (or its replay) as Config.CreateAnswer says.
// The resource's Location is relative to the request URL
// ("categorization-jobs/<id>" resolved against ".../v2/categorization-jobs"),
// so it stays right wherever Handler is mounted.
func (s *Server) writeJob(w http.ResponseWriter, status int, j *job, replay bool) {
	switch s.cfg.CreateAnswer {
	case CreateAnswerEmpty:
		if !replay {
			status = http.StatusAccepted
		}
		w.WriteHeader(status)
		return
	case CreateAnswerNoID:
		res := s.resource(j)
		res.ID = ""
		writeJSON(w, status, res)
		return
	}
	w.Header().Set("Location", "categorization-jobs/"+j.id)
	writeJSON(w, status, s.resource(j))
}

// resource is j on the wire as it is now.
func (s *Server) resource(j *job) jobResource {
	res := s.progression.resource(j, s.cfg.Now())
	if s.cfg.OmitStatus {
		res.Status = ""
	}
	return res
}

// getJob serves GET /v2/categorization-jobs/{id}.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j := s.jobs.get(id)
	if j == nil {
		writeError(w, http.StatusNotFound, apiError{Message: fmt.Sprintf("categorization job %q not found", id)})
		return
	}
	// A job of a subject forbidden since it was created is hidden too.
	if s.refuseSubject(w, &j.req, "read the job of") {
		return
	}
	writeJSON(w, http.StatusOK, s.resource(j))
}

// invalidRequest is the 400 body of a request that breaks rules: one entry
// per broken rule, so a client (and a test) can tell which rule it broke.
func invalidRequest(broken []fieldError) apiError {
	msgs := make([]string, len(broken))
	for i, b := range broken {
		msgs[i] = b.Path + ": " + b.Message
	}
	return apiError{Message: "invalid categorization request: " + strings.Join(msgs, "; "), Errors: broken}
}

// Jobs returns a snapshot of the retained jobs, oldest first, each with its
// status at the time of the call.
func (s *Server) Jobs() []Job {
	now := s.cfg.Now()
	retained := s.jobs.retained()
	out := make([]Job, 0, len(retained))
	for _, j := range retained {
		out = append(out, s.progression.snapshot(j, now))
	}
	return out
}

// JobsFor returns how many retained jobs were created with the given
// Idempotency-Key. It counts jobs rather than asking the key index, so a
// test checking exactly-once creation does not trust the code it checks.
func (s *Server) JobsFor(idempotencyKey string) int {
	n := 0
	for _, j := range s.jobs.retained() {
		if j.key == idempotencyKey {
			n++
		}
	}
	return n
}
