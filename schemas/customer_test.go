package schemas

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/contactlab/connector/internal/testkit"
)

// custRec builds a record of operation op around a customer body whose
// members are given; create records get a nodeId, patch and session
// records a customerId.
func custRec(op, members string) string {
	switch op {
	case CustomerOpCreate:
		body := `"nodeId": "` + testNodeID + `"`
		if members != "" {
			body += ", " + members
		}
		return `{"operation": "create", "customer": {` + body + `}}`
	case CustomerOpPatch:
		return `{"operation": "patch", "customerId": "` + testCustomerID + `", "customer": {` + members + `}}`
	}
	return `{"operation": "session", "customerId": "` + testCustomerID + `", "session": {` + members + `}}`
}

// str is a JSON string of n copies of s.
func str(s string, n int) string { return `"` + strings.Repeat(s, n) + `"` }

func TestDecodeCustomerRecordRules(t *testing.T) {
	create := func(members string) string { return custRec(CustomerOpCreate, members) }
	patch := func(members string) string { return custRec(CustomerOpPatch, members) }
	cases := []messageCase{
		// ---- the envelope
		{name: "minimal create", json: create("")},
		{name: "minimal patch", json: patch("")},
		{name: "minimal session", json: custRec(CustomerOpSession, `"value": "s-1"`)},
		{name: "no operation", json: `{"customer": {}}`, want: []string{"$.operation"}},
		{name: "operation wrong case", json: `{"operation": "CREATE", "customer": {"nodeId": "` + testNodeID + `"}}`, want: []string{"$.operation"}},
		{name: "operation number", json: `{"operation": 1}`, want: []string{"$.operation"}},
		// A create finds or makes its customer; it names no id.
		{name: "create with customerId", json: `{"operation": "create", "customerId": "` + testCustomerID + `", "customer": {"nodeId": "` + testNodeID + `"}}`, want: []string{"$.customerId"}},
		{name: "create without customer", json: `{"operation": "create"}`, want: []string{"$.customer"}},
		{name: "create with session", json: `{"operation": "create", "customer": {"nodeId": "` + testNodeID + `"}, "session": {"value": "s"}}`, want: []string{"$.session"}},
		{name: "patch without anything", json: `{"operation": "patch"}`, want: []string{"$.customer", "$.customerId"}},
		{name: "patch customerId not uuid", json: `{"operation": "patch", "customerId": "C-1001", "customer": {}}`, want: []string{"$.customerId"}},
		{name: "session without session", json: `{"operation": "session", "customerId": "` + testCustomerID + `"}`, want: []string{"$.session"}},
		{name: "session with customer", json: `{"operation": "session", "customerId": "` + testCustomerID + `", "customer": {}, "session": {"value": "s"}}`, want: []string{"$.customer"}},
		{name: "customer not object", json: `{"operation": "patch", "customerId": "` + testCustomerID + `", "customer": "{}"}`, want: []string{"$.customer"}},
		{name: "unknown envelope member", json: `{"operation": "patch", "customerId": "` + testCustomerID + `", "customer": {}, "mode": "STRICT"}`, want: []string{"$.mode"}},
		{name: "duplicate operation", json: `{"operation": "patch", "operation": "create", "customer": {"nodeId": "` + testNodeID + `"}}`, want: []string{"$.operation"}, goOnly: true},

		// ---- session: "The maxLength allowed for String properties is 255"
		{name: "session value 255", json: custRec(CustomerOpSession, `"value": `+str("s", 255))},
		{name: "session value 256", json: custRec(CustomerOpSession, `"value": `+str("s", 256)), want: []string{"$.session.value"}},
		{name: "session value empty", json: custRec(CustomerOpSession, `"value": ""`), want: []string{"$.session.value"}},
		{name: "session value missing", json: custRec(CustomerOpSession, ``), want: []string{"$.session.value"}},
		{name: "session value null", json: custRec(CustomerOpSession, `"value": null`), want: []string{"$.session.value"}},
		{name: "session unknown member", json: custRec(CustomerOpSession, `"value": "s", "id": "x"`), want: []string{"$.session.id"}},

		// ---- the customer body's members
		{name: "create nodeId missing", json: `{"operation": "create", "customer": {"externalId": "C-1"}}`, want: []string{"$.customer.nodeId"}},
		{name: "create nodeId null", json: `{"operation": "create", "customer": {"nodeId": null}}`, want: []string{"$.customer.nodeId"}},
		{name: "patch nodeId immutable", json: patch(`"nodeId": "` + testNodeID + `"`), want: []string{"$.customer.nodeId"}},
		{name: "patch read-only version", json: patch(`"version": 3`), want: []string{"$.customer.version"}},
		{name: "unknown body member", json: create(`"firstName": "Marco"`), want: []string{"$.customer.firstName"}},
		{name: "nulls where the reference allows them", json: create(`"externalId": null, "extra": null, "base": null, "consents": null, "extended": null, "tags": null`)},
		{name: "enabled null", json: create(`"enabled": null`), want: []string{"$.customer.enabled"}},
		{name: "base array", json: create(`"base": []`), want: []string{"$.customer.base"}},
		{name: "extended string", json: create(`"extended": "x"`), want: []string{"$.customer.extended"}},

		// ---- 255 for every string but the extended ones
		{name: "externalId 255", json: create(`"externalId": ` + str("x", 255))},
		{name: "externalId 256", json: create(`"externalId": ` + str("x", 256)), want: []string{"$.customer.externalId"}},
		{name: "extra 256", json: patch(`"extra": ` + str("x", 256)), want: []string{"$.customer.extra"}},
		{name: "base string 255", json: patch(`"base": {"firstName": ` + str("x", 255) + `}`)},
		{name: "base string 256", json: patch(`"base": {"firstName": ` + str("x", 256) + `}`), want: []string{"$.customer.base.firstName"}},
		// Characters, not bytes: è is two bytes in UTF-8 and six escaped.
		{name: "255 two-byte characters", json: patch(`"base": {"lastName": ` + str("è", 255) + `}`)},
		{name: "256 two-byte characters", json: patch(`"base": {"lastName": ` + str("è", 256) + `}`), want: []string{"$.customer.base.lastName"}},
		{name: "255 escaped characters", json: patch(`"base": {"lastName": ` + str(`\u00e8`, 255) + `}`)},
		{name: "256 escaped characters", json: patch(`"base": {"lastName": ` + str(`\u00e8`, 256) + `}`), want: []string{"$.customer.base.lastName"}},
		// Deep in objects and arrays, at the path of the string.
		{name: "nested contact 256", json: patch(`"base": {"contacts": {"otherContacts": [{"value": "ok"}, {"value": ` + str("v", 256) + `}]}}`), want: []string{"$.customer.base.contacts.otherContacts[1].value"}},
		{name: "likes in arrays 256", json: patch(`"base": {"likes": [[` + str("l", 256) + `]]}`), want: []string{"$.customer.base.likes[0][0]"}},
		{name: "odd name 256", json: patch(`"base": {"my key": ` + str("k", 256) + `}`), want: []string{"$.customer.base['my key']"}},
		{name: "consents 256", json: patch(`"consents": {"disclaimer": {"version": ` + str("1", 256) + `}}`), want: []string{"$.customer.consents.disclaimer.version"}},
		// Numbers, booleans and nulls have no length.
		{name: "non-strings in base", json: patch(`"base": {"address": {"geo": {"lat": 45.46, "lon": 9.19}}, "jobs": [{"isCurrent": true, "endDate": null}]}`)},
		// Extended properties have the workspace's limits, not these.
		{name: "extended 5000", json: patch(`"extended": {"notes": ` + str("n", 5000) + `}`)},

		// ---- the exceptions
		{name: "street 500", json: patch(`"base": {"address": {"street": ` + str("s", 500) + `}}`)},
		{name: "street 501", json: patch(`"base": {"address": {"street": ` + str("s", 501) + `}}`), want: []string{"$.customer.base.address.street"}},
		{name: "address city 256", json: patch(`"base": {"address": {"city": ` + str("c", 256) + `}}`), want: []string{"$.customer.base.address.city"}},
		// street's 500 belongs to base.address.street, nowhere else.
		{name: "street elsewhere 256", json: patch(`"base": {"street": ` + str("s", 256) + `}`), want: []string{"$.customer.base.street"}},
		{name: "address as a string 256", json: patch(`"base": {"address": ` + str("a", 256) + `}`), want: []string{"$.customer.base.address"}},
		{name: "pictureUrl 1000", json: patch(`"base": {"pictureUrl": ` + str("p", 1000) + `}`)},
		{name: "pictureUrl 1001", json: patch(`"base": {"pictureUrl": ` + str("p", 1001) + `}`), want: []string{"$.customer.base.pictureUrl"}},
		// tags: 1000 characters for each list, in all.
		{name: "tags auto 1000 in all", json: patch(`"tags": {"auto": [` + str("a", 400) + `, ` + str("b", 600) + `], "manual": [` + str("m", 1000) + `]}`)},
		{name: "tags auto 1001 in all", json: patch(`"tags": {"auto": [` + str("a", 400) + `, ` + str("b", 601) + `]}`), want: []string{"$.customer.tags.auto"}, goOnly: true},
		{name: "tags manual 1001 in all", json: patch(`"tags": {"manual": [` + strings.Repeat(`"abcdefghij", `, 100) + `"k"]}`), want: []string{"$.customer.tags.manual"}, goOnly: true},
		{name: "one tag 1001", json: patch(`"tags": {"manual": [` + str("m", 1001) + `]}`), want: []string{"$.customer.tags.manual"}},
		{name: "tags in characters", json: patch(`"tags": {"auto": [` + str("è", 1000) + `]}`)},
		{name: "tag not a string", json: patch(`"tags": {"auto": ["a", null, 3]}`), want: []string{"$.customer.tags.auto[1]", "$.customer.tags.auto[2]"}},
		{name: "tags not a list", json: patch(`"tags": {"auto": "a,b"}`), want: []string{"$.customer.tags.auto"}},
		{name: "tags unknown list", json: patch(`"tags": {"other": []}`), want: []string{"$.customer.tags.other"}},
		// Duplicates anywhere the validator reads.
		{name: "duplicate in address", json: patch(`"base": {"address": {"city": "a", "city": "b"}}`), want: []string{"$.customer.base.address.city"}, goOnly: true},
		{name: "duplicate body member", json: patch(`"extra": "a", "extra": "b"`), want: []string{"$.customer.extra"}, goOnly: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMessage(t, customerRecordSchema, []byte(tc.json), tc.want, tc.goOnly)
		})
	}
}

// customerOfSize is a create record whose customer member is exactly n bytes.
func customerOfSize(t *testing.T, n int) []byte {
	t.Helper()
	head := `{"nodeId":"` + testNodeID + `","extended":{"blob":"`
	tail := `"}}`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("no customer of %d bytes", n)
	}
	return []byte(`{"operation":"create","customer":` + head + strings.Repeat("x", pad) + tail + `}`)
}

// The payload limit is on the bytes Contacthub receives: the customer
// member as it is, whitespace included.
func TestCustomerPayloadLimit(t *testing.T) {
	checkMessage(t, customerRecordSchema, customerOfSize(t, MaxCustomerBytes), nil, false)
	checkMessage(t, customerRecordSchema, customerOfSize(t, MaxCustomerBytes+1), []string{"$.customer"}, true)
	// The envelope around the customer does not count.
	padded := `{"operation":"create",` + strings.Repeat(" ", 2*MaxCustomerBytes) + `"customer":{"nodeId":"` + testNodeID + `"}}`
	checkMessage(t, customerRecordSchema, []byte(padded), nil, false)
}

// The messages name the path and the limit, and never quote the value:
// values are customer data, and errors end up in dead-letter headers.
func TestCustomerViolationMessages(t *testing.T) {
	data := custRec(CustomerOpPatch, `"base": {"address": {"street": `+str("s", 501)+`}, "pictureUrl": `+str("p", 1001)+`},
		"tags": {"auto": [`+str("a", 999)+`, "bb"]}, "externalId": `+str("secret", 43))
	_, err := DecodeCustomerRecord([]byte(data))
	want := "customer-record: " +
		"$.customer.base.address.street: must be at most 500 characters; " +
		"$.customer.base.pictureUrl: must be at most 1000 characters; " +
		"$.customer.externalId: must be at most 255 characters; " +
		"$.customer.tags.auto: the lengths of its strings must add up to at most 1000 characters"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatal("the error quotes a value")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Schema != "customer-record" {
		t.Fatalf("error %T schema %q", err, ve.Schema)
	}
}

// Decoding keeps the customer byte for byte (it is sent as is) and owns its
// copy of it.
func TestDecodeCustomerRecordKeepsTheBody(t *testing.T) {
	body := `{ "nodeId" : "` + testNodeID + `", "base": {"firstName": "Giulia"} }`
	data := []byte(`{"operation": "create", "customer": ` + body + `}`)
	rec, err := DecodeCustomerRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Customer) != body {
		t.Fatalf("customer %s, want %s", rec.Customer, body)
	}
	clear(data)
	if string(rec.Customer) != body {
		t.Fatal("the customer aliases the input")
	}
	s, err := DecodeCustomerRecord([]byte(custRec(CustomerOpSession, `"value": "s-\u00e8"`)))
	if err != nil || s.Operation != CustomerOpSession || s.CustomerID != testCustomerID || s.Session.Value != "s-è" {
		t.Fatalf("session record %+v, %v", s, err)
	}
}

func TestCustomerRecordValidate(t *testing.T) {
	body := json.RawMessage(`{"nodeId": "` + testNodeID + `", "externalId": "C-1"}`)
	cases := []struct {
		name string
		rec  CustomerRecord
		want []string
	}{
		{"create", CustomerRecord{Operation: CustomerOpCreate, Customer: body}, nil},
		{"session", CustomerRecord{Operation: CustomerOpSession, CustomerID: testCustomerID, Session: &CustomerSession{Value: "s"}}, nil},
		{"empty", CustomerRecord{}, []string{"$.operation"}},
		{"patch with a create body", CustomerRecord{Operation: CustomerOpPatch, CustomerID: testCustomerID, Customer: body}, []string{"$.customer.nodeId"}},
		{"customer not JSON", CustomerRecord{Operation: CustomerOpCreate, Customer: json.RawMessage(`{"nodeId":`)}, []string{"$.customer"}},
		{"session value empty", CustomerRecord{Operation: CustomerOpSession, CustomerID: testCustomerID, Session: &CustomerSession{}}, []string{"$.session.value"}},
		// json.Marshal writes < as \u003c: 12,000 of them fit as read and
		// not as marshaled.
		{"too large once escaped", CustomerRecord{Operation: CustomerOpCreate,
			Customer: json.RawMessage(`{"nodeId": "` + testNodeID + `", "extended": {"html": "` + strings.Repeat("<", 12000) + `"}}`)}, []string{"$.customer"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkValidate(t, customerRecordSchema, &tc.rec, tc.want)
		})
	}
}

func onlyCustomerTooLarge(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && len(ve.Violations) == 1 && ve.Violations[0].Rule == ruleCustomerTooLarge
}

func FuzzDecodeCustomerRecord(f *testing.F) {
	addSeeds(f, customerRecordSchema, func(data []byte) { f.Add(data) })
	f.Add([]byte(custRec(CustomerOpPatch, `"base": {"address": {"street": "<&>"}}, "tags": {"auto": ["\u00e8", "\ud800"]}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Marshaling escapes <, > and &, which can push a customer near the
		// limit over it; that alone is excused.
		r, again, ok := decodeTwice(t, customerRecordSchema, data, DecodeCustomerRecord, (*CustomerRecord).Validate, onlyCustomerTooLarge)
		if !ok {
			return
		}
		if again.Operation != r.Operation || again.CustomerID != r.CustomerID || !reflect.DeepEqual(again.Session, r.Session) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, again)
		}
		testkit.RequireJSONEqual(t, r.Customer, again.Customer)
	})
}
