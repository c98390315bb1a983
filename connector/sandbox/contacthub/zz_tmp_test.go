package contacthub

import (
	"testing"
)

func TestTmpSizes(t *testing.T) {
	s, _ := New(testConfig())
	s.AppendUpdates(100000)
	sz := map[string][2]int{}
	items, _ := s.log.page(pageQuery{size: 4000}, nil)
	for _, it := range items {
		k := string(it[30:60])
		v := sz[k[:20]]
		v[0]++
		v[1] += len(it)
		sz[k[:20]] = v
	}
	for k, v := range sz {
		t.Logf("%s n=%d avg=%d", k, v[0], v[1]/v[0])
	}
	t.Logf("%s", items[0])
	t.Logf("customers %d", len(s.gen.customers))
}
