package ups

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"math/rand/v2"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

func sampleBody() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := 0; i < 1500; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"userId":"user-%07d","value":{"segment":"seg-%d","score":%d,"tier":"%s"}}`, r.IntN(10000000), r.IntN(50), r.IntN(1000), []string{"gold", "silver", "bronze"}[r.IntN(3)])
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkGzipLevels shows why bodies use klauspost/compress at its
// default level: on JSON records it is about 4x faster than compress/gzip at
// the same level for the same size. Its faster levels (1-5) are faster
// still, but store blocks with few repeats uncompressed (a random-looking
// value: hex ids, tokens), which would halve how many such records fit in
// 50 KB; TestBatcherFillsRequestsToTheBodyLimit shows that case.
func BenchmarkGzipLevels(b *testing.B) {
	body := sampleBody()
	for _, lvl := range []int{1, 2, 3, 4, 5, 6} {
		b.Run(fmt.Sprintf("std-%d", lvl), func(b *testing.B) {
			var out bytes.Buffer
			w, _ := stdgzip.NewWriterLevel(&out, lvl)
			for b.Loop() {
				out.Reset()
				w.Reset(&out)
				w.Write(body)
				w.Close()
			}
			b.ReportMetric(float64(out.Len())/float64(len(body)), "ratio")
			b.SetBytes(int64(len(body)))
		})
		b.Run(fmt.Sprintf("klauspost-%d", lvl), func(b *testing.B) {
			var out bytes.Buffer
			w, _ := kgzip.NewWriterLevel(&out, lvl)
			for b.Loop() {
				out.Reset()
				w.Reset(&out)
				w.Write(body)
				w.Close()
			}
			b.ReportMetric(float64(out.Len())/float64(len(body)), "ratio")
			b.SetBytes(int64(len(body)))
		})
	}
}
