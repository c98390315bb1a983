package enablenow_test

import (
	"fmt"
	"testing"

	"github.com/contactlab/connector/connector/enablenow"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/streams"
)

// The key is computed for every record on every attempt.
func BenchmarkIdempotencyKey(b *testing.B) {
	value := []byte(`{"engine":"e1","profile":"retail","countryCode":"nl","consentId":"af86536d-34e3-4ebc-6c64-08db56ccef25"}`)
	b.ReportAllocs()
	for i := range b.N {
		_ = enablenow.IdempotencyKey("categorization.requests", 3, int64(i), []byte("af86536d"), value)
	}
}

// One request through the sink: decode, key, create over loopback HTTP
// against the stand-in, result into memory. Mostly the HTTP round trip.
func BenchmarkCategorizationSinkWrite(b *testing.B) {
	a := startAPI(b, standin.Config{MaxJobs: 1000, MaxIdempotencyKeys: 1000})
	sink := enablenow.NewCategorizationSink(newClient(a.url, nil), discardResults{}, nil, nil, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			off := offsets.Add(1)
			r := &streams.Record{Topic: "categorization.requests", Offset: off, Key: []byte("k"),
				Value: fmt.Appendf(nil, `{"consentId":"c-%d"}`, off)}
			if err := write(b, sink, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
