package demo

import (
	"bytes"
	"testing"

	"github.com/contactlab/connector/schemas"
)

// The generator's valid flag is what the schema says, its records are keyed
// by the customer they concern, patches and sessions name only customers
// Resolve knows, and the same seed gives the same traffic.
func TestCustomersTrafficMatchesTheSchema(t *testing.T) {
	const n, customers = 5000, 100
	known := map[string]string{} // externalId -> id, as Contacthub would give them
	resolve := func(ext string) string { return known[ext] }
	g := NewCustomersTraffic(1, customers, testNodeID)
	g.InvalidShare, g.Resolve = 0.1, resolve
	again := NewCustomersTraffic(1, customers, testNodeID)
	again.InvalidShare, again.Resolve = 0.1, resolve
	invalid := 0
	ops := map[string]int{}
	for i := range n {
		k, v, valid := g.Next()
		k2, v2, _ := again.Next()
		if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatal("the same seed gave different traffic")
		}
		rec, err := schemas.DecodeCustomerRecord(v)
		if (err == nil) != valid {
			t.Fatalf("valid=%v but the schema says %v: %s", valid, err, v)
		}
		if !valid {
			invalid++
			continue
		}
		ops[rec.Operation]++
		switch rec.Operation {
		case schemas.CustomerOpCreate:
			// Contacthub gives the customer an id on its first create.
			if known[string(k)] == "" {
				known[string(k)] = "00000000-0000-4000-8000-" + hex12(i)
			}
		default:
			if rec.CustomerID != known[string(k)] {
				t.Fatalf("record keyed %s names customer %s, Resolve knows %q", k, rec.CustomerID, known[string(k)])
			}
		}
	}
	if invalid < n/20 || invalid > n/5 {
		t.Fatalf("%d invalid of %d, want about 10%%", invalid, n)
	}
	if len(known) != customers || ops[schemas.CustomerOpPatch] == 0 || ops[schemas.CustomerOpSession] == 0 {
		t.Fatalf("%d customers created, operations %v", len(known), ops)
	}
}

// Without Resolve no id is known: only creates.
func TestCustomersTrafficCreatesWhileNoIDIsKnown(t *testing.T) {
	g := NewCustomersTraffic(2, 10, testNodeID)
	g.InvalidShare = 0
	for range 200 {
		_, v, _ := g.Next()
		rec, err := schemas.DecodeCustomerRecord(v)
		if err != nil || rec.Operation != schemas.CustomerOpCreate {
			t.Fatalf("%v: %s", err, v)
		}
	}
}

const testNodeID = "959356e3-6168-4a92-b4a5-b9d462be6177"

func hex12(i int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 12)
	for j := 11; j >= 0; j-- {
		b[j] = digits[i&15]
		i >>= 4
	}
	return string(b)
}
