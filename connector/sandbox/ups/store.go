package ups

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/contactlab/connector/schemas"
)

// valueStore holds what the service would have written: per collection and
// user, the last value applied.
type valueStore struct {
	mu           sync.RWMutex
	byCollection map[schemas.Collection]*collectionValues
}

type collectionValues struct {
	users   map[string]storedValue
	updates int64
}

type storedValue struct {
	value json.RawMessage
	// version is the job that wrote value: an older job never overwrites a
	// newer one's value, whatever order they end in.
	version int64
	updates int
}

func newValueStore() *valueStore {
	// Every collection from the start, so that Stats shows each of them
	// even before it holds anything.
	vs := &valueStore{byCollection: make(map[schemas.Collection]*collectionValues, len(schemas.Collections))}
	for _, c := range schemas.Collections {
		vs.byCollection[c] = &collectionValues{users: make(map[string]storedValue)}
	}
	return vs
}

// apply writes the records of a completed job. Within one job the later
// record of a user wins, as it would in a payload applied in order.
func (vs *valueStore) apply(c schemas.Collection, version int64, records []schemas.UPSRecord) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	cv := vs.byCollection[c]
	if cv == nil {
		cv = &collectionValues{users: make(map[string]storedValue)}
		vs.byCollection[c] = cv
	}
	for _, rec := range records {
		sv := cv.users[rec.UserID]
		sv.updates++
		if version >= sv.version {
			sv.value, sv.version = rec.Value, version
		}
		cv.users[rec.UserID] = sv
	}
	cv.updates += int64(len(records))
}

func (vs *valueStore) get(c schemas.Collection, userID string) (json.RawMessage, int, bool) {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	cv := vs.byCollection[c]
	if cv == nil {
		return nil, 0, false
	}
	sv, ok := cv.users[userID]
	if !ok {
		return nil, 0, false
	}
	// A copy, so a caller that edits it cannot change what later reads see.
	return bytes.Clone(sv.value), sv.updates, true
}

func (vs *valueStore) collectionStats() map[string]CollectionStats {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	out := make(map[string]CollectionStats, len(vs.byCollection))
	for c, cv := range vs.byCollection {
		out[string(c)] = CollectionStats{Users: int64(len(cv.users)), Updates: cv.updates}
	}
	return out
}

// Stored returns the value last applied for userID in collection c and how
// many updates were applied for the user, counting only records of jobs that
// COMPLETED: a FAILED job applied nothing, so a connector that re-sends it is
// seen applying each update once. ok is false if nothing was applied.
func (s *Server) Stored(c schemas.Collection, userID string) (value json.RawMessage, updates int, ok bool) {
	s.jobs.advance(s.now())
	return s.store.get(c, userID)
}
