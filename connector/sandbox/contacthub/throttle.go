package contacthub

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// throttle is the workspace throttling: a token bucket refilled at
// maxRequestsPerMinute/60 per second. The setting and its limiter are
// swapped whole on a change, so the hot path takes no lock of ours, readers
// never see a limit with another limit's bucket, and a new limit starts with
// a full bucket, as a freshly configured workspace would.
type throttle struct {
	state atomic.Pointer[throttleState] // nil: throttling disabled
}

type throttleState struct {
	perMinute int
	limiter   *rate.Limiter
}

func (t *throttle) set(perMinute int) {
	if perMinute <= 0 {
		t.state.Store(nil)
		return
	}
	// Burst of one second's worth, at least 1: a client sending at the
	// configured rate in small bursts is never refused, a client sending a
	// minute's worth at once is.
	burst := max(1, perMinute/60)
	t.state.Store(&throttleState{
		perMinute: perMinute,
		limiter:   rate.NewLimiter(rate.Limit(float64(perMinute)/60), burst),
	})
}

func (t *throttle) maxPerMinute() int {
	if st := t.state.Load(); st != nil {
		return st.perMinute
	}
	return 0
}

// allow takes a token, or says how long until one is available.
func (t *throttle) allow() (time.Duration, bool) {
	st := t.state.Load()
	if st == nil {
		return 0, true
	}
	now := time.Now()
	if st.limiter.AllowN(now, 1) {
		return 0, true
	}
	// Refused requests take no token, so the wait is the time to refill what
	// is missing of one token.
	missing := 1 - st.limiter.TokensAt(now)
	return time.Duration(missing / float64(st.limiter.Limit()) * float64(time.Second)), false
}

// retryAfterSeconds renders a wait as Retry-After: whole seconds, rounded up
// so a client that obeys it is not refused again, and never 0, which clients
// read as "retry at once".
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// SetMaxRequestsPerMinute changes the workspace throttling as the PUT
// endpoint does; n <= 0 disables it.
func (s *Server) SetMaxRequestsPerMinute(n int) { s.throttle.set(n) }

type throttlingConfig struct {
	MaxRequestsPerMinute *int `json:"maxRequestsPerMinute"`
}

func (s *Server) getThrottling(w http.ResponseWriter, r *http.Request) {
	n := s.throttle.maxPerMinute()
	writeJSON(w, http.StatusOK, throttlingConfig{MaxRequestsPerMinute: &n})
}

func (s *Server) putThrottling(w http.ResponseWriter, r *http.Request) {
	var body throttlingConfig
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid throttling configuration: "+err.Error(), nil)
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid throttling configuration: trailing data after the object", nil)
		return
	}
	switch {
	case body.MaxRequestsPerMinute == nil:
		writeError(w, http.StatusBadRequest, "invalid throttling configuration",
			[]fieldError{{Message: "is required", Path: "maxRequestsPerMinute"}})
		return
	case *body.MaxRequestsPerMinute < 0:
		writeError(w, http.StatusBadRequest, "invalid throttling configuration",
			[]fieldError{{Message: "must be greater than or equal to 0", Path: "maxRequestsPerMinute"}})
		return
	}
	s.throttle.set(*body.MaxRequestsPerMinute)
	s.getThrottling(w, r)
}
