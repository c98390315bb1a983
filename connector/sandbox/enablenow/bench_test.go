package enablenow

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkCreateJob measures the handler alone (no network), the part a
// load test of the connector would find first if it were slow: decode,
// the store lock and the answer.
func BenchmarkCreateJob(b *testing.B) {
	for _, withKey := range []bool{false, true} {
		b.Run("key="+strconv.FormatBool(withKey), func(b *testing.B) {
			srv, err := New(Config{Token: testToken})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v2/categorization-jobs", strings.NewReader(validBody))
				req.Header.Set("Authorization", "Bearer "+testToken)
				if withKey {
					req.Header.Set("Idempotency-Key", strconv.Itoa(i))
					i++
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
