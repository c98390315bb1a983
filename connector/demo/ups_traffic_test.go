package demo

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/contactlab/connector/schemas"
)

// The generator's valid flag is what the schemas (and so the connector and
// the sandbox) say, its share of invalid records is about the one asked
// for, and the same seed gives the same traffic.
func TestUPSTrafficMatchesTheSchemas(t *testing.T) {
	for _, c := range schemas.Collections {
		t.Run(string(c), func(t *testing.T) {
			g := NewUPSTraffic(1, 200, c)
			g.InvalidShare = 0.1
			again := NewUPSTraffic(1, 200, c)
			again.InvalidShare = 0.1
			const n = 5000
			invalid, users := 0, map[string]bool{}
			for range n {
				k, v, valid := g.Next()
				k2, v2, _ := again.Next()
				if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
					t.Fatal("the same seed gave different traffic")
				}
				rec, err := schemas.DecodeUPSRecord(c, v)
				if (err == nil) != valid {
					t.Fatalf("valid=%v but the schema says %v: %s", valid, err, v)
				}
				if !valid {
					invalid++
					continue
				}
				if string(k) != rec.UserID {
					t.Fatalf("key %s is not the user id %s", k, rec.UserID)
				}
				users[rec.UserID] = true
				var compact bytes.Buffer
				if json.Compact(&compact, v) != nil || !bytes.Equal(compact.Bytes(), v) {
					t.Fatalf("not compact JSON: %s", v)
				}
			}
			if invalid < n/20 || invalid > n/5 {
				t.Fatalf("%d invalid of %d, want about 10%%", invalid, n)
			}
			if len(users) != 200 {
				t.Fatalf("%d users updated, want all 200", len(users))
			}
		})
	}
}
