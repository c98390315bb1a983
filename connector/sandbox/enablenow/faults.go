package enablenow

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
)

// SetResetAfterCreateShare changes at run time the share (0..1) of new jobs
// whose answer is lost. It returns a *ConfigError for a share outside 0..1
// and then keeps the previous share.
func (s *Server) SetResetAfterCreateShare(share float64) error {
	if !isShare(share) {
		return &ConfigError{Key: "ResetAfterCreateShare", Reason: "must be between 0 and 1"}
	}
	s.storeResetAfterCreate(share)
	return nil
}

// ResetAfterCreateShare returns the share of new jobs whose answer is lost.
func (s *Server) ResetAfterCreateShare() float64 {
	return math.Float64frombits(s.resetAfterCreate.Load())
}

func (s *Server) storeResetAfterCreate(share float64) {
	s.resetAfterCreate.Store(math.Float64bits(share))
}

// drawResetAfterCreate decides whether this new job loses its answer.
func (s *Server) drawResetAfterCreate() bool {
	share := s.ResetAfterCreateShare()
	return share > 0 && rand.Float64() < share
}

// resetConnection drops the answer: over HTTP/1 it resets the TCP
// connection (RST, not FIN, so the client sees a network error and not a
// truncated answer), over HTTP/2, which cannot be hijacked, it resets the
// stream. Either way the client cannot know whether the job was created.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// net/http resets the stream and recovers this panic silently.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// Linger 0 makes Close send RST and discard unsent data.
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// afterCreateSettings is the body of GET|PUT /faults/after-create.
type afterCreateSettings struct {
	ResetAfterCreateShare float64 `json:"reset_after_create_share"`
}

// serveAfterCreate serves GET|PUT|POST /faults/after-create: the fault that
// package fault cannot inject, because all of its faults strike before the
// request is handled.
func (s *Server) serveAfterCreate(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut, http.MethodPost:
		var in afterCreateSettings
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
		// An unknown key is a typo that would otherwise silently leave the
		// fault off.
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeError(w, http.StatusBadRequest, apiError{Message: "after-create fault settings: " + err.Error()})
			return
		}
		if err := s.SetResetAfterCreateShare(in.ResetAfterCreateShare); err != nil {
			writeError(w, http.StatusBadRequest, apiError{
				Message: err.Error(),
				Errors:  []fieldError{{Path: "/reset_after_create_share", Message: fmt.Sprint(in.ResetAfterCreateShare, " is not between 0 and 1")}},
			})
			return
		}
	default:
		w.Header().Set("Allow", "GET, PUT, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		afterCreateSettings
		ResetsAfterCreate int64 `json:"resets_after_create"`
	}{afterCreateSettings{s.ResetAfterCreateShare()}, s.stats.resetsAfterCreate.Load()})
}
