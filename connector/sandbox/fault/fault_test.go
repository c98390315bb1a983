package fault

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProblemsNameEachBadSetting(t *testing.T) {
	s := Settings{Latency: -1, ServerErrorShare: 1.5, ThrottleShare: -0.1, ResetShare: 0.5, RetryAfter: -1}
	var fields []string
	for _, p := range s.Problems() {
		fields = append(fields, p.Field)
	}
	if got, want := strings.Join(fields, ","), "Latency,ServerErrorShare,ThrottleShare,RetryAfter"; got != want {
		t.Fatalf("problems %s, want %s", got, want)
	}
	if ps := (Settings{ServerErrorShare: 0.05}).Problems(); len(ps) != 0 {
		t.Fatalf("valid settings reported %v", ps)
	}
}

// The faults endpoint refuses settings that cannot be used and keeps the
// ones it had.
func TestHandlerRefusesBadSettings(t *testing.T) {
	in := New(Settings{ServerErrorShare: 0.1})
	rec := httptest.NewRecorder()
	in.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/faults", strings.NewReader(`{"throttle_share": 2}`)))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "ThrottleShare") {
		t.Fatalf("PUT of a share of 2: %d %s", rec.Code, rec.Body)
	}
	if s := in.Settings(); s.ServerErrorShare != 0.1 || s.ThrottleShare != 0 {
		t.Fatalf("settings changed to %+v", s)
	}
	rec = httptest.NewRecorder()
	in.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/faults", strings.NewReader(`{"throttle_share": 0.2}`)))
	if rec.Code != http.StatusOK || in.Settings().ThrottleShare != 0.2 {
		t.Fatalf("PUT of a valid share: %d %s", rec.Code, rec.Body)
	}
}
