package contacthub

import (
	"bufio"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// Bounds of the update stream's page size, from the reference.
const (
	defaultPageSize = 50
	maxPageSize     = 4000
)

// LastOffset is the offset of the newest update in the log, 0 when empty.
func (s *Server) LastOffset() int64 { return s.log.lastOffset(filterKey{}) }

func (s *Server) getLastOffset(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []fieldError
	key := parseFilters(q, &errs)
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, "invalid query parameters", errs)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		LastOffset int64 `json:"lastOffset"`
	}{s.log.lastOffset(key)})
}

// parseFilters reads nodeId and entity, which the two stream endpoints share.
func parseFilters(q url.Values, errs *[]fieldError) filterKey {
	var k filterKey
	if q.Has("nodeId") {
		k.node = q.Get("nodeId")
		if !isUUID(k.node) {
			*errs = append(*errs, fieldError{Message: "must be a uuid", Path: "nodeId"})
		}
	}
	if q.Has("entity") {
		kind, ok := parseEntityKind(q.Get("entity"))
		if !ok {
			*errs = append(*errs, fieldError{Message: "must be one of CUSTOMER, EVENT", Path: "entity"})
		}
		k.kind = kind
	}
	return k
}

// parsePageQuery validates the update stream's query. A parameter that is
// present must be valid, even when empty: a client sending "offset=" has a
// bug the sandbox should surface, not guess around.
func parsePageQuery(q url.Values) (pageQuery, []fieldError) {
	var errs []fieldError
	pq := pageQuery{size: defaultPageSize}
	pq.key = parseFilters(q, &errs)
	intParam := func(name string, lo, hi int64) (int64, bool) {
		if !q.Has(name) {
			return 0, false
		}
		n, err := strconv.ParseInt(q.Get(name), 10, 64)
		switch {
		case err != nil:
			errs = append(errs, fieldError{Message: "must be an integer", Path: name})
			return 0, false
		case n < lo || n > hi:
			errs = append(errs, fieldError{Message: "must be within " + strconv.FormatInt(lo, 10) + ".." + strconv.FormatInt(hi, 10), Path: name})
			return 0, false
		}
		return n, true
	}
	if n, ok := intParam("size", 0, maxPageSize); ok {
		pq.size = int(n)
	}
	pq.after, pq.hasAfter = intParam("offset", 0, 1<<62)
	pq.sinceMillis, pq.hasSince = intParam("timestamp", 0, 1<<62)
	return pq, errs
}

// pageBuffers recycles the list of encoded updates and the output buffer, so
// a page costs no allocation proportional to its size.
var pageBuffers = sync.Pool{New: func() any {
	return &pageBuffer{
		items: make([][]byte, 0, maxPageSize),
		out:   bufio.NewWriterSize(nil, 64<<10),
	}
}}

type pageBuffer struct {
	items [][]byte
	out   *bufio.Writer
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request) {
	q, errs := parsePageQuery(r.URL.Query())
	if limit := s.pageLimit.Load(); int64(q.size) > limit {
		errs = append(errs, fieldError{Message: "must be within 0.." + strconv.FormatInt(limit, 10), Path: "size"})
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, "invalid query parameters", errs)
		return
	}
	pb := pageBuffers.Get().(*pageBuffer)
	defer func() {
		// The items alias the log's encoded updates; drop them so a pooled
		// buffer does not keep dropped updates alive.
		clear(pb.items)
		pb.items = pb.items[:0]
		pb.out.Reset(nil)
		pageBuffers.Put(pb)
	}()
	var next int64
	pb.items, next = s.log.page(q, pb.items[:0])
	s.stats.updatesServed.Add(int64(len(pb.items)))

	// The page is written as the reference's JSON by hand: each update
	// is already encoded, and a Content-Length lets the client size its read.
	var head [64]byte
	h := append(head[:0], `{"nextOffset":`...)
	h = strconv.AppendInt(h, next, 10)
	h = append(h, `,"updates":[`...)
	const tail = "]}"
	n := len(h) + len(tail) + max(0, len(pb.items)-1)
	for _, it := range pb.items {
		n += len(it)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	pb.out.Reset(w)
	_, _ = pb.out.Write(h)
	for i, it := range pb.items {
		if i > 0 {
			_ = pb.out.WriteByte(',')
		}
		_, _ = pb.out.Write(it)
	}
	_, _ = pb.out.WriteString(tail)
	_ = pb.out.Flush()
}
