package ups

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/contactlab/connector/schemas"
)

// maxDecodedBytes bounds a decompressed payload whatever the limits, so that
// a small gzip bomb cannot exhaust memory; it is also the body limit when
// MaxBodyBytes is lifted.
const maxDecodedBytes = 64 << 20

// acceptedAnswer is the service's answer to an accepted payload.
type acceptedAnswer struct {
	Version int64  `json:"version"`
	JobID   string `json:"jobId"`
	Message string `json:"message"`
}

func (s *Server) enrich(single bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveEnrich(w, r, single)
	})
}

// serveEnrich serves POST (single false: data is an array) and PUT (single
// true: data is one object) of /attributes/api/v1/{apiKey}/{collection}, the
// checks in the order doc.go gives.
func (s *Server) serveEnrich(w http.ResponseWriter, r *http.Request, single bool) {
	s.stats.requests.Add(1)
	now := s.now()
	if !s.authorize(w, r, attributesService, now) {
		return
	}
	apiKey := r.PathValue("apiKey")
	if apiKey != s.cfg.APIKey {
		s.refuse(w, http.StatusNotFound, "unknown apiKey: "+apiKey)
		return
	}
	c, ok := parseCollection(r.PathValue("collection"))
	if !ok {
		s.refuse(w, http.StatusNotFound, fmt.Sprintf("unknown collection %q: the service has %q", r.PathValue("collection"), collections))
		return
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "gzip", "x-gzip":
	case "", "identity":
		s.refuse(w, http.StatusBadRequest, "the payload must be gzip-compressed and sent with Content-Encoding: gzip")
		return
	default:
		s.refuse(w, http.StatusUnsupportedMediaType, "unsupported Content-Encoding "+strconv.Quote(enc)+": only gzip is accepted")
		return
	}

	wire := getBuffer()
	defer putBuffer(wire)
	if status, msg := readBody(wire, r, s.maxBodyBytes.Load()); status != 0 {
		s.refuse(w, status, msg)
		return
	}
	plain := getBuffer()
	defer putBuffer(plain)
	if status, msg := gunzip(plain, wire.Bytes()); status != 0 {
		s.refuse(w, status, msg)
		return
	}

	p, ok := readPayload(plain.Bytes(), single)
	if !ok {
		var err error
		if p, err = decodePayload(plain.Bytes(), single); err != nil {
			s.refuse(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if p.typ != nil {
		if c != schemas.UserLinking {
			s.refuse(w, http.StatusBadRequest, "type is only defined for "+string(schemas.UserLinking)+", not "+string(c))
			return
		}
		if *p.typ != "grouped" {
			s.refuse(w, http.StatusBadRequest, `type must be "grouped", or absent for explicit linking; not `+strconv.Quote(*p.typ))
			return
		}
	}
	if limit := s.maxRecords.Load(); limit > 0 && int64(len(p.elems)) > limit {
		s.refuse(w, http.StatusBadRequest, fmt.Sprintf("%d records exceed the limit of %d per request", len(p.elems), limit))
		return
	}
	// A request the throttling refuses is refused before its records are
	// read, as a gateway would; one that fits spends the budget only once
	// its records are known to be valid.
	if wait, ok := s.limiter.fits(len(p.elems), now); !ok {
		w.Header().Set("Retry-After", retryAfterSeconds(wait))
		s.refuse(w, http.StatusTooManyRequests, fmt.Sprintf("throttled: %d records exceed the updates per second left to this apiKey", len(p.elems)))
		return
	}
	records, bad := p.records(c)
	if len(bad) > 0 {
		s.stats.refused(http.StatusBadRequest)
		writeJSON(w, http.StatusBadRequest, apiError{
			Message: fmt.Sprintf("%d of %d records are invalid; none was accepted", len(bad), len(p.elems)),
			Errors:  bad,
		})
		return
	}
	if wait, ok := s.limiter.take(len(records), now); !ok {
		w.Header().Set("Retry-After", retryAfterSeconds(wait))
		s.refuse(w, http.StatusTooManyRequests, fmt.Sprintf("throttled: %d records exceed the updates per second left to this apiKey", len(records)))
		return
	}

	version, id := s.jobs.accept(acceptance{
		apiKey:     apiKey,
		collection: c,
		ownerID:    p.ownerID(apiKey),
		records:    records,
	}, now)
	s.stats.countAccepted(len(records), wire.Len())
	writeJSON(w, http.StatusOK, acceptedAnswer{Version: version, JobID: id.String(), Message: "Accepted"})
}

// refuse answers an enrichment request that is not accepted and counts it.
func (s *Server) refuse(w http.ResponseWriter, status int, msg string) {
	s.stats.refused(status)
	writeError(w, status, msg)
}

// readBody reads the body as sent into buf, or says why not (a status and a
// message; status 0 means it was read).
func readBody(buf *bytes.Buffer, r *http.Request, maxBody int64) (int, string) {
	limit := maxBody
	if limit <= 0 {
		limit = maxDecodedBytes
	}
	tooLarge := fmt.Sprintf("the payload is larger than %d bytes as sent", limit)
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, tooLarge
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	// One byte more than allowed tells a too large body without reading it
	// all (a chunked body has no Content-Length to check first).
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return http.StatusBadRequest, "reading the payload: " + err.Error()
	}
	if n > limit {
		return http.StatusRequestEntityTooLarge, tooLarge
	}
	return 0, ""
}

var gzipReaders sync.Pool // of *gzip.Reader

// gunzip decompresses body into buf, or says why not.
func gunzip(buf *bytes.Buffer, body []byte) (int, string) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(body))
	} else {
		err = zr.Reset(bytes.NewReader(body))
	}
	if err != nil {
		return http.StatusBadRequest, "the payload is not valid gzip: " + err.Error()
	}
	defer gzipReaders.Put(zr)
	buf.Grow(4 * len(body))
	n, err := buf.ReadFrom(io.LimitReader(zr, maxDecodedBytes+1))
	if err != nil {
		return http.StatusBadRequest, "the payload is not valid gzip: " + err.Error()
	}
	if n > maxDecodedBytes {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the payload is larger than %d bytes decompressed", maxDecodedBytes)
	}
	return 0, ""
}

var buffers sync.Pool // of *bytes.Buffer

func getBuffer() *bytes.Buffer {
	if b, ok := buffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// putBuffer keeps buffers up to a few payloads' size: a rare huge one (with
// the limits lifted) should not stay pinned in the pool.
func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 4<<20 {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// payload is a decoded enrichment body.
type payload struct {
	siteID *int64
	typ    *string
	// elems are the elements of data, each still encoded: a record is
	// decoded only once the count is known to be within the limit.
	elems []json.RawMessage
	// insts and values, when readPayload read the body, are each element's
	// instance for the schema and the bytes of its value member (nil when
	// it has none); with decodePayload, records decodes each element.
	insts  []any
	values [][]byte
}

// decodePayload decodes the envelope of a body: {"siteId", "type", "data"},
// data an array for POST and one object for PUT.
func decodePayload(body []byte, single bool) (payload, error) {
	var p payload
	var env struct {
		SiteID json.RawMessage `json:"siteId"`
		Type   json.RawMessage `json:"type"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return p, fmt.Errorf("the payload is not valid JSON: %w", err)
		}
		return p, errors.New("the payload must be a JSON object")
	}
	if isSet(env.SiteID) {
		var id int64
		if json.Unmarshal(env.SiteID, &id) != nil {
			return p, fmt.Errorf("siteId must be an integer, not %s", env.SiteID)
		}
		p.siteID = &id
	}
	if isSet(env.Type) {
		var t string
		if json.Unmarshal(env.Type, &t) != nil {
			return p, fmt.Errorf("type must be a string, not %s", env.Type)
		}
		p.typ = &t
	}
	data := bytes.TrimSpace(env.Data)
	switch {
	case !isSet(data) && single:
		return p, errors.New("data is required: one record object for PUT")
	case !isSet(data):
		return p, errors.New("data is required: an array of records for POST")
	case single && data[0] != '{':
		return p, errors.New("data must be one record object for PUT")
	case single:
		p.elems = []json.RawMessage{data}
	case data[0] != '[':
		return p, errors.New("data must be an array of records for POST")
	default:
		// Cannot fail: data is a valid JSON array, or the envelope would not
		// have decoded.
		if err := json.Unmarshal(data, &p.elems); err != nil {
			return p, fmt.Errorf("data: %w", err)
		}
	}
	if len(p.elems) == 0 {
		return p, errors.New("data holds no records")
	}
	return p, nil
}

func isSet(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// records checks every record against its collection's rules (rules.go:
// the stand-in's own, never the connector's decoders) and lists all the bad
// ones at once.
func (p *payload) records(c schemas.Collection) ([]schemas.UPSRecord, []recordError) {
	if p.insts != nil {
		return p.readRecords(c)
	}
	records := make([]schemas.UPSRecord, 0, len(p.elems))
	var bad []recordError
	for i, e := range p.elems {
		rec, broken := checkRecord(c, e)
		if broken != "" {
			bad = append(bad, recordError{Index: i, UserID: rawUserID(e), Message: broken})
			continue
		}
		records = append(records, rec)
	}
	return records, bad
}

// readRecords is records for a payload readPayload read: each instance is
// validated as checkRecord validates it, and an accepted record's value is
// the bytes as sent, copied out of the body (which goes back to a pool)
// into one block for the whole payload.
func (p *payload) readRecords(c schemas.Collection) ([]schemas.UPSRecord, []recordError) {
	schema := collectionSchema(c)
	var bad []recordError
	size := 0
	for i, inst := range p.insts {
		if err := schema.Validate(inst); err != nil {
			bad = append(bad, recordError{Index: i, UserID: rawUserID(p.elems[i]), Message: schemaViolations(err)})
			continue
		}
		size += len(p.values[i])
	}
	if len(bad) > 0 {
		return nil, bad
	}
	records := make([]schemas.UPSRecord, len(p.insts))
	block := make([]byte, 0, size)
	for i, inst := range p.insts {
		// The schema requires userId, a string, and value.
		records[i].UserID = inst.(map[string]any)["userId"].(string)
		at := len(block)
		block = append(block, p.values[i]...)
		records[i].Value = block[at:len(block):len(block)]
	}
	return records, nil
}

// rawUserID is the userId of a record that is not valid, as far as it can
// be told, so that the error list still says whose record it is.
func rawUserID(rec json.RawMessage) string {
	var r struct {
		UserID json.RawMessage `json:"userId"`
	}
	if json.Unmarshal(rec, &r) != nil || !isSet(r.UserID) {
		return ""
	}
	var s string
	if json.Unmarshal(r.UserID, &s) == nil {
		return s
	}
	return string(r.UserID)
}

// ownerID is the owner the status service reports: the payload's siteId, or
// else the apiKey when it is a number (as in the reference, where both are
// 608), or else 0.
func (p *payload) ownerID(apiKey string) int64 {
	if p.siteID != nil {
		return *p.siteID
	}
	id, _ := strconv.ParseInt(apiKey, 10, 64)
	return id
}
