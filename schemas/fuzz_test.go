package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/contactlab/connector/internal/testkit"
)

// The fuzz targets check, for any input:
//   - decoding never panics, and fails only with a *ValidationError;
//   - a decoded value passes Validate, survives json.Marshal, decodes again
//     without error, and decodes to the same value;
//   - the Go validator and the JSON Schema agree on valid/invalid, except
//     where a Go-only rule (duplicates, event size) fired.

// addSeeds seeds a fuzz target with the golden files of a schema.
func addSeeds(f *testing.F, schema string, add func(data []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", schema, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden files for %s: %v", schema, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(data)
	}
}

// checkFuzzError asserts the error contract and the schema agreement.
func checkFuzzError(t *testing.T, schema string, data []byte, err error) {
	t.Helper()
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Violations) == 0 {
			t.Fatalf("error %T without violations: %v", err, err)
		}
	}
	if hasGoOnlyRule(err) || hugeExponent.Match(data) {
		return
	}
	accepted, schemaErr := schemaAccepts(t, schema, data)
	if accepted != (err == nil) {
		t.Fatalf("Go and JSON Schema disagree on %q\nGo: %v\nJSON Schema accepts=%v: %v", data, err, accepted, schemaErr)
	}
}

// onlyTooLarge reports whether err says nothing but that an event is over
// MaxEventBytes. json.Marshal can grow a valid event past it: it writes "<"
// as \u003c and each invalid UTF-8 byte as \ufffd.
func onlyTooLarge(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && len(ve.Violations) == 1 && ve.Violations[0].Rule == ruleEventTooLarge
}

// decodeTwice is what every fuzz target shares: it decodes data and checks
// the error contract; for a valid message it checks Validate, marshals the
// value and decodes it again, returning both values for the caller to
// compare. ok is false for an invalid message, and for a round trip that
// fails only as excused (nil excuses nothing) says it may.
func decodeTwice[T any](t *testing.T, schema string, data []byte, decode func([]byte) (*T, error), validate func(*T) error, excused func(error) bool) (first, again *T, ok bool) {
	t.Helper()
	first, err := decode(data)
	checkFuzzError(t, schema, data, err)
	if err != nil {
		return nil, nil, false
	}
	if err := validate(first); err != nil && (excused == nil || !excused(err)) {
		t.Fatalf("Validate on a decoded %s: %v", schema, err)
	}
	b, err := json.Marshal(first)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	again, err = decode(b)
	if err != nil {
		if excused != nil && excused(err) {
			return nil, nil, false
		}
		t.Fatalf("decode after marshal: %v\n%s", err, b)
	}
	return first, again, true
}

func FuzzDecodeEvent(f *testing.F) {
	addSeeds(f, eventSchema, func(data []byte) { f.Add(data) })
	f.Add([]byte(`{"customerId":"` + testCustomerID + `","type":"viewedPage","context":"WEB","properties":{"html":"<&>"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// json.Marshal can grow a valid event past MaxEventBytes (see
		// onlyTooLarge); that alone is excused.
		e, again, ok := decodeTwice(t, eventSchema, data, DecodeEvent, (*Event).Validate, onlyTooLarge)
		if !ok {
			return
		}
		if again.CustomerID != e.CustomerID || again.Type != e.Type || again.Context != e.Context ||
			again.Date != e.Date || !reflect.DeepEqual(again.BringBackProperties, e.BringBackProperties) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, again)
		}
		testkit.RequireJSONEqual(t, e.Properties, again.Properties)
		testkit.RequireJSONEqual(t, e.ContextInfo, again.ContextInfo)
		testkit.RequireJSONEqual(t, e.Tracking, again.Tracking)
	})
}

// One fuzz target per UPS collection, so each record decoder gets its own
// corpus and its own run in make fuzz.
func FuzzDecodeUserAttributes(f *testing.F) { fuzzUPSRecord(f, UserAttributes) }
func FuzzDecodeSegments(f *testing.F)       { fuzzUPSRecord(f, Segments) }
func FuzzDecodeUserLinking(f *testing.F)    { fuzzUPSRecord(f, UserLinking) }
func FuzzDecodeUserPreferences(f *testing.F) {
	fuzzUPSRecord(f, UserPreferences)
}

func fuzzUPSRecord(f *testing.F, c Collection) {
	addSeeds(f, upsSchemas[c], func(data []byte) { f.Add(data) })
	decode := func(data []byte) (*UPSRecord, error) { return DecodeUPSRecord(c, data) }
	validate := func(r *UPSRecord) error { return r.Validate(c) }
	f.Fuzz(func(t *testing.T, data []byte) {
		r, again, ok := decodeTwice(t, upsSchemas[c], data, decode, validate, nil)
		if !ok {
			return
		}
		if again.UserID != r.UserID {
			t.Fatalf("round trip changed userId: %q -> %q", r.UserID, again.UserID)
		}
		testkit.RequireJSONEqual(t, r.Value, again.Value)
	})
}

func FuzzDecodeCategorizationRequest(f *testing.F) {
	addSeeds(f, categorizationSchema, func(data []byte) { f.Add(data) })
	f.Add([]byte(`{"engine":"&0","input":{"<a>":"b&c"}}`)) // forwarded as it came; json.Marshal escapes & < >
	f.Fuzz(func(t *testing.T, data []byte) {
		r, again, ok := decodeTwice(t, categorizationSchema, data, DecodeCategorizationRequest, (*CategorizationRequest).Validate, nil)
		if !ok {
			return
		}
		// MetaData and Verbatim are raw JSON, which the round trip may
		// write with other escapes (json.Marshal writes & as \u0026):
		// equal as JSON is what counts.
		metaA, metaB := r.MetaData, again.MetaData
		verbA, verbB := r.Verbatim, again.Verbatim
		r.MetaData, again.MetaData = nil, nil
		r.Verbatim, again.Verbatim = nil, nil
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", r, again)
		}
		testkit.RequireJSONEqual(t, metaA, metaB)
		if (verbA == nil) != (verbB == nil) {
			t.Fatalf("round trip changed whether the request is forwarded as it came: %s / %s", verbA, verbB)
		}
		if verbA != nil {
			testkit.RequireJSONEqual(t, verbA, verbB)
		}
	})
}

func FuzzDecodeUpdateEnvelope(f *testing.F) {
	addSeeds(f, updateEnvelopeSchema, func(data []byte) { f.Add(data) })
	f.Add([]byte(envelope("CUSTOMER", "1.5e1", `{"id": "c"}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, again, ok := decodeTwice(t, updateEnvelopeSchema, data, DecodeUpdateEnvelope, (*UpdateEnvelope).Validate, nil)
		if !ok {
			return
		}
		if again.Operation != u.Operation || again.EntityType != u.EntityType || again.Offset != u.Offset ||
			again.Workspace != u.Workspace || again.NodeID != u.NodeID || !again.ReadAt.Equal(u.ReadAt) ||
			again.EntityKey() != u.EntityKey() {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", u, again)
		}
		testkit.RequireJSONEqual(t, u.Data, again.Data)
	})
}
