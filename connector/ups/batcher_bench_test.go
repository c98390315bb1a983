package ups

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/contactlab/connector/streams"
)

// benchValues are values shaped like make bench's user preferences (the
// collection that compresses worst, so the 50 KB limit binds before the
// 1000 records): product ids by verb.
func benchValues(n int) [][]byte {
	r := rand.New(rand.NewPCG(3, 4))
	verbs := []string{"like", "dislike", "neutral", "Notforrecs"}
	out := make([][]byte, n)
	for i := range out {
		var v strings.Builder
		v.WriteString("{")
		for j, verb := range verbs[:1+r.IntN(3)] {
			if j > 0 {
				v.WriteString(",")
			}
			fmt.Fprintf(&v, "%q:[", verb)
			for k := range 1 + r.IntN(4) {
				if k > 0 {
					v.WriteString(",")
				}
				fmt.Fprintf(&v, `"prod%09d%c"`, r.IntN(1e9), 'a'+rune(r.IntN(26)))
			}
			v.WriteString("]")
		}
		v.WriteString("}")
		out[i] = []byte(fmt.Sprintf(`{"userId":"%08d","value":%s}`, r.IntN(1e8), v.String()))
	}
	return out
}

// BenchmarkBatcherNext measures what the Batcher costs per record from
// Admit to a request built (compressed), as the sender drives it.
func BenchmarkBatcherNext(b *testing.B) {
	values := benchValues(20000)
	bt, _ := newTestBatcher(BatcherConfig{})
	done := func(*streams.Record, error) {}
	b.ReportAllocs()
	records, requests := 0, 0
	for b.Loop() {
		es := make([]*entry, len(values))
		for i, v := range values {
			es[i] = &entry{user: fmt.Sprint(records + i), data: v, pos: position{topic: "t", offset: int64(records + i)}, rec: &streams.Record{}, done: done}
		}
		records += len(es)
		bt.Admit(es)
		for {
			req := next(b, bt, 1000)
			if req == nil {
				break
			}
			requests++
			bt.JobCompleted(req.entries)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(records)/float64(requests), "records/request")
}
