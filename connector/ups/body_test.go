package ups

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The level of a body follows from whether the body limit binds: the fast
// level when every candidate fits (its size then decides nothing), the
// best one when records must be left out, so that as many fit as can.
// The gzip header's XFL byte tells them apart: 4 for level 1, 0 for 6.
func TestBodyLevelFollowsTheBindingLimit(t *testing.T) {
	small := func(i int) string { return fmt.Sprintf(`{"tier":["gold-%d"]}`, i%5) }
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(int) string {
		buf := make([]byte, 400)
		for k := range buf {
			buf[k] = byte(rnd.UintN(256))
		}
		return fmt.Sprintf(`{"blob":["%x"]}`, buf)
	}
	for _, tc := range []struct {
		name    string
		value   func(int) string
		n       int
		wantXFL byte
		all     bool // every record in the first request
	}{
		{"record limit binds", small, 1000, 4, true},
		{"a partial request", small, 10, 4, true},
		{"body limit binds", random, 1000, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newTestBatcher(BatcherConfig{MaxRecords: 1000, MaxBodyBytes: 50 * 1024})
			var recs []rec
			for i := range tc.n {
				recs = append(recs, rec{user: fmt.Sprintf("u%05d", i), offset: int64(i), value: tc.value(i)})
			}
			admit(b, recs...)
			req := next(t, b, 1000)
			users, _ := sent(t, req)
			if got := req.body[8]; got != tc.wantXFL {
				t.Errorf("gzip XFL %d, want %d", got, tc.wantXFL)
			}
			if len(req.body) > 50*1024 {
				t.Errorf("body of %d bytes exceeds the limit", len(req.body))
			}
			if (len(users) == tc.n) != tc.all {
				t.Errorf("%d of %d records in the first request", len(users), tc.n)
			}
		})
	}
}
