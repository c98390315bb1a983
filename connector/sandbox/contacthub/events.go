package contacthub

import (
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// createEvent is Create event. The workspace checks (auth, permission,
// throttling) ran before it; here come the payload limit, the media type,
// the reference's rules and the aggregate-node rule, in that order, so that
// a request with several faults always gets the same answer and the cheap
// checks spare the expensive ones.
func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) {
	limit := s.cfg.MaxEventBytes
	if r.ContentLength > int64(limit) {
		// Refused before reading: receiving megabytes only to refuse them
		// would let one client slow every other one down.
		s.rejectTooLarge(w)
		return
	}
	body, tooLarge, err := readLimited(r.Body, r.ContentLength, limit)
	if err != nil {
		// The client went away or broke the framing; nobody reads this answer.
		writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error(), nil)
		return
	}
	if tooLarge {
		s.rejectTooLarge(w)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusUnsupportedMediaType, "the request body must be application/json", nil)
		return
	}
	ev, errs := checkCreateEvent(body)
	if errs != nil {
		s.stats.rejected.Add(1)
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Path + ": " + e.Message
		}
		writeError(w, http.StatusBadRequest, "invalid event: "+strings.Join(msgs, "; "), errs)
		return
	}
	if bb := ev.BringBack; bb != nil && slices.Contains(s.cfg.AggregateNodes, bb.NodeID) {
		s.stats.forbidden.Add(1)
		writeError(w, http.StatusForbidden, "bringBackProperties are not allowed for aggregate nodes",
			[]fieldError{{Message: "is an aggregate node", Path: "$.bringBackProperties.nodeId"}})
		return
	}
	s.stats.recordAccepted(eventOwner(ev), body)
	id := uuid.NewString()
	s.streamCreatedEvent(id, ev)
	writeJSON(w, http.StatusAccepted, struct {
		ID string `json:"id"`
	}{id})
}

// streamCreatedEvent appends the CREATE of an accepted event to the update
// stream, as Contacthub does, so that a source tailing the stream sees the
// events a sink created. An event known only by bringBackProperties has no
// customer yet (Contacthub resolves it later) and is not streamed.
func (s *Server) streamCreatedEvent(id string, ev *referenceEvent) {
	if ev.CustomerID == "" {
		return
	}
	now := s.now()
	ts := timestamp(now)
	date := ev.Date
	if date == "" {
		date = ts
	}
	// origin is one of the two values the reference lists (NATIVE,
	// DUPLICATE); an event created through the API is native.
	data := mustJSON(eventData{ID: id, CustomerID: ev.CustomerID, Type: ev.Type, Context: ev.Context, Properties: ev.Properties,
		Date: date, Origin: "NATIVE", RegisteredAt: ts, UpdatedAt: ts})
	s.log.append([]change{{operation: operationCreate, kind: kindEvent, node: s.gen.node, millis: now.UnixMilli(), data: data}})
}

func (s *Server) rejectTooLarge(w http.ResponseWriter) {
	s.stats.rejected.Add(1)
	writeError(w, http.StatusRequestEntityTooLarge, "the event payload must not exceed 64kB ("+strconv.Itoa(s.cfg.MaxEventBytes)+" bytes)", nil)
}

// eventOwner is whom Stats.PerCustomer counts the event for: its customer,
// or, for an event that names its customer only through bringBackProperties,
// the value that will identify it.
func eventOwner(ev *referenceEvent) string {
	if ev.CustomerID != "" {
		return ev.CustomerID
	}
	if ev.BringBack != nil {
		return ev.BringBack.Value
	}
	return ""
}

// readLimited reads r up to limit bytes and says whether there was more.
// The buffer is sized from Content-Length when there is one, so a typical
// event is read with a single allocation.
func readLimited(r io.Reader, contentLength int64, limit int) (body []byte, tooLarge bool, err error) {
	size := 512
	if contentLength >= 0 {
		// One byte more than announced, so the read that meets EOF needs
		// no growth.
		size = int(min(contentLength, int64(limit))) + 1
	}
	b := make([]byte, 0, size)
	lr := io.LimitReader(r, int64(limit)+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, len(b) > limit, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}
