// Package fault injects failures into the sandbox APIs: latency, a share of
// 5xx and 429 answers, connection resets and a window in which every request
// is unauthorized. The settings change at run time through an HTTP endpoint,
// so a test or an operator can turn faults on and off while traffic flows.
//
// It must not know any API: each stand-in wraps its handler with Injector.Wrap.
package fault

import (
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Settings are the faults applied to every request. Zero values inject nothing.
type Settings struct {
	// Latency is added before every answer.
	Latency Duration `json:"latency"`
	// ServerErrorShare is the share (0..1) of requests answered 503.
	ServerErrorShare float64 `json:"server_error_share"`
	// ThrottleShare is the share (0..1) of requests answered 429 with Retry-After.
	ThrottleShare float64 `json:"throttle_share"`
	// ResetShare is the share (0..1) of requests whose connection is reset
	// without an answer (after the request was read, before it is handled).
	ResetShare float64 `json:"reset_share"`
	// UnauthorizedFor makes every request fail with 401 for this long,
	// counted from when the settings were applied.
	UnauthorizedFor Duration `json:"unauthorized_for"`
	// RetryAfter is the Retry-After sent with injected 429s (whole seconds,
	// at least 1 on the wire).
	RetryAfter Duration `json:"retry_after"`
}

// Problem is one setting that cannot be used: its field and why.
type Problem struct {
	Field  string // the Settings field, e.g. "ServerErrorShare"
	Reason string
}

// Problems lists the settings that cannot be used: a share outside 0..1
// (or NaN) and a negative duration. The stand-ins' configurations and the
// faults endpoint check settings with it.
func (s Settings) Problems() []Problem {
	var out []Problem
	share := func(field string, v float64) {
		if !(v >= 0 && v <= 1) { // also NaN
			out = append(out, Problem{field, "must be within 0..1"})
		}
	}
	duration := func(field string, d Duration) {
		if d < 0 {
			out = append(out, Problem{field, "must be >= 0"})
		}
	}
	duration("Latency", s.Latency)
	share("ServerErrorShare", s.ServerErrorShare)
	share("ThrottleShare", s.ThrottleShare)
	share("ResetShare", s.ResetShare)
	duration("UnauthorizedFor", s.UnauthorizedFor)
	duration("RetryAfter", s.RetryAfter)
	return out
}

// Duration is a time.Duration that reads and writes as a Go duration string.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return err
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Counts are how many faults were injected.
type Counts struct {
	ServerErrors int64 `json:"server_errors"`
	Throttled    int64 `json:"throttled"`
	Resets       int64 `json:"resets"`
	Unauthorized int64 `json:"unauthorized"`
}

// Injector applies Settings to an http.Handler. The zero value is not usable;
// call New.
type Injector struct {
	mu           sync.RWMutex
	s            Settings
	unauthUntil  time.Time
	serverErrors atomic.Int64
	throttled    atomic.Int64
	resets       atomic.Int64
	unauthorized atomic.Int64
}

// New returns an Injector with the given initial settings.
func New(s Settings) *Injector {
	in := &Injector{}
	in.Set(s)
	return in
}

// Set replaces the settings; an UnauthorizedFor window starts now.
func (in *Injector) Set(s Settings) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.s = s
	in.unauthUntil = time.Time{}
	if s.UnauthorizedFor > 0 {
		in.unauthUntil = time.Now().Add(time.Duration(s.UnauthorizedFor))
	}
}

// Settings returns the current settings.
func (in *Injector) Settings() Settings {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.s
}

// Counts returns how many faults were injected so far.
func (in *Injector) Counts() Counts {
	return Counts{
		ServerErrors: in.serverErrors.Load(),
		Throttled:    in.throttled.Load(),
		Resets:       in.resets.Load(),
		Unauthorized: in.unauthorized.Load(),
	}
}

// Unauthorized reports whether the 401 window is open now.
func (in *Injector) Unauthorized() bool {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return time.Now().Before(in.unauthUntil)
}

// Wrap returns next with the faults applied in front of it.
func (in *Injector) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.RLock()
		s, unauthUntil := in.s, in.unauthUntil
		in.mu.RUnlock()
		if s.Latency > 0 {
			t := time.NewTimer(time.Duration(s.Latency))
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if time.Now().Before(unauthUntil) {
			in.unauthorized.Add(1)
			writeJSONError(w, http.StatusUnauthorized, "injected fault: token rejected")
			return
		}
		if s.ResetShare > 0 && rand.Float64() < s.ResetShare {
			if reset(w) {
				in.resets.Add(1)
				return
			}
		}
		if s.ServerErrorShare > 0 && rand.Float64() < s.ServerErrorShare {
			in.serverErrors.Add(1)
			writeJSONError(w, http.StatusServiceUnavailable, "injected fault: service unavailable")
			return
		}
		if s.ThrottleShare > 0 && rand.Float64() < s.ThrottleShare {
			in.throttled.Add(1)
			ra := time.Duration(s.RetryAfter)
			if ra <= 0 {
				ra = time.Second
			}
			w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
			writeJSONError(w, http.StatusTooManyRequests, "injected fault: too many requests")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// reset closes the client connection abruptly (RST, not FIN) so the client
// sees a network error, not an HTTP answer.
func reset(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return true
}

// Handler serves the settings: GET returns them with the counts, PUT or POST
// replaces them with the JSON body.
func (in *Injector) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut, http.MethodPost:
			var s Settings
			dec := json.NewDecoder(r.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil {
				writeJSONError(w, http.StatusBadRequest, "fault settings: "+err.Error())
				return
			}
			if ps := s.Problems(); len(ps) > 0 {
				msgs := make([]string, len(ps))
				for i, p := range ps {
					msgs[i] = p.Field + " " + p.Reason
				}
				writeJSONError(w, http.StatusBadRequest, "fault settings: "+strings.Join(msgs, "; "))
				return
			}
			in.Set(s)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Settings Settings `json:"settings"`
			Counts   Counts   `json:"counts"`
		}{in.Settings(), in.Counts()})
	})
}

// writeJSONError answers in the Contacthub error shape, which the other
// stand-ins share for simplicity: {"message": ..., "logref": ...}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"message": msg, "logref": "sandbox"})
}
