package schemas

import (
	"os"
	"testing"
)

// The decoders run once per record at 50,000 records/s; these pin their cost
// on realistic messages.

func BenchmarkDecodeEvent(b *testing.B) {
	cases := []struct{ name, file string }{
		{"viewedPage", "testdata/event/valid-bringback-session.json"},
		{"abandonedCart", "testdata/event/valid-customer.json"},
		{"completedOrder", "testdata/event/valid-completed-order.json"},
	}
	for _, bc := range cases {
		data, err := os.ReadFile(bc.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeEvent(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateEventBody is the events sink's per-record work on the
// body: validation, then nulls dropped (bodies without nulls are sent as
// they came, without a copy).
func BenchmarkCreateEventBody(b *testing.B) {
	for _, file := range []string{"testdata/event/valid-bringback-session.json", "testdata/event/valid-completed-order.json"} {
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(file[len("testdata/event/"):], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CreateEventBody(data, 64<<10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeUPSRecord(b *testing.B) {
	cases := []struct {
		c    Collection
		file string
	}{
		{UserAttributes, "testdata/ups-rr-userattributes/valid-many.json"},
		{Segments, "testdata/ups-rr-segments/valid-reference.json"},
		{UserLinking, "testdata/ups-userlinking/valid-reference.json"},
		{UserPreferences, "testdata/ups-rr-userpreferences/valid-reference.json"},
	}
	for _, bc := range cases {
		data, err := os.ReadFile(bc.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(bc.c), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeUPSRecord(bc.c, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
