package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	testCustomerID = "87d8e330-2878-4742-a86f-dbbb3bf522ac"
	testNodeID     = "959356e3-6168-4a92-b4a5-b9d462be6177"
)

// ev builds an event around a customerId identity; members override or add.
func ev(members string) string {
	base := `"customerId": "` + testCustomerID + `", "type": "viewedPage", "context": "WEB", "properties": {}`
	if members == "" {
		return "{" + base + "}"
	}
	return "{" + base + ", " + members + "}"
}

type messageCase struct {
	name   string
	json   string
	want   []string
	goOnly bool
}

func TestDecodeEventRules(t *testing.T) {
	bbp := `"type": "viewedPage", "context": "WEB", "properties": {}, "bringBackProperties": `
	cases := []messageCase{
		// The smallest event Contacthub accepts.
		{name: "minimal", json: ev("")},
		// Whitespace anywhere is still JSON.
		{name: "whitespace", json: "\n\t{ \"customerId\" :\"" + testCustomerID + "\" ,\"type\":\"loggedIn\" , \"context\":\"IOT\",\"properties\": { } } \r\n"},
		// Escaped member names are the same members.
		{name: "escaped names", json: `{"c\u0075stomerId": "` + testCustomerID + `", "\u0074ype": "viewedPage", "context": "WEB", "properties": {}}`},
		// Escaped values are decoded before they are checked.
		{name: "escaped enum value", json: `{"customerId": "` + testCustomerID + `", "type": "viewed\u0050age", "context": "WEB", "properties": {}}`},
		// A present but empty customerId is not an absent one.
		{name: "empty customerId", json: `{"customerId": "", "type": "viewedPage", "context": "WEB", "properties": {}}`, want: []string{"$.customerId"}},
		// A customerId of the wrong type does not count as the identity.
		{name: "numeric customerId", json: `{"customerId": 42, "type": "viewedPage", "context": "WEB", "properties": {}}`, want: []string{"$", "$.customerId"}},
		// Null identities read as absent, so one real one suffices...
		{name: "null bringBack with customerId", json: ev(`"bringBackProperties": null`)},
		// ...and two nulls are no identity.
		{name: "both identities null", json: `{"customerId": null, "bringBackProperties": null, "type": "viewedPage", "context": "WEB", "properties": {}}`, want: []string{"$"}},
		// bringBackProperties must be an object.
		{name: "bringBack array", json: "{" + bbp + `[]}`, want: []string{"$", "$.bringBackProperties"}},
		// Every member of bringBackProperties is required.
		{name: "bringBack empty", json: "{" + bbp + `{}}`, want: []string{"$.bringBackProperties.nodeId", "$.bringBackProperties.type", "$.bringBackProperties.value"}},
		// Null is not a value for a bringBackProperties member.
		{name: "bringBack null members", json: "{" + bbp + `{"type": null, "value": null, "nodeId": null}}`, want: []string{"$.bringBackProperties.nodeId", "$.bringBackProperties.type", "$.bringBackProperties.value"}},
		// Duplicates are caught inside bringBackProperties too.
		{name: "bringBack duplicate", json: "{" + bbp + `{"type": "SESSION_ID", "value": "a", "value": "b", "nodeId": "` + testNodeID + `"}}`, want: []string{"$.bringBackProperties.value"}, goOnly: true},
		// Type values are case-sensitive.
		{name: "type wrong case", json: `{"customerId": "` + testCustomerID + `", "type": "VIEWEDPAGE", "context": "WEB", "properties": {}}`, want: []string{"$.type"}},
		// A null type is not a type.
		{name: "type null", json: `{"customerId": "` + testCustomerID + `", "type": null, "context": "WEB", "properties": {}}`, want: []string{"$.type"}},
		// Case variants of names are unknown members, not aliases.
		{name: "name case variant", json: `{"customerId": "` + testCustomerID + `", "Type": "viewedPage", "context": "WEB", "properties": {}}`, want: []string{"$.Type", "$.type"}},
		// Odd names get bracketed, escaped paths.
		{name: "odd unknown name", json: ev(`"it's\\here": 1`), want: []string{`$['it\'s\\here']`}},
		// Two spellings of one name are one member, twice.
		{name: "escaped duplicate", json: ev(`"\u0074ype": "loggedIn"`), want: []string{"$.type"}, goOnly: true},
		// properties must be an object, in any of the ways it can fail.
		{name: "properties string", json: `{"customerId": "` + testCustomerID + `", "type": "viewedPage", "context": "WEB", "properties": "{}"}`, want: []string{"$.properties"}},
		{name: "properties missing", json: `{"customerId": "` + testCustomerID + `", "type": "viewedPage", "context": "WEB"}`, want: []string{"$.properties"}},
		// contextInfo: object or null only.
		{name: "contextInfo null", json: ev(`"contextInfo": null`)},
		{name: "contextInfo array", json: ev(`"contextInfo": []`), want: []string{"$.contextInfo"}},
		// date: RFC 3339, and every field in range.
		{name: "date offset", json: ev(`"date": "2024-03-01T10:00:00.5-23:59"`)},
		{name: "date leap day 2000", json: ev(`"date": "2000-02-29T00:00:00Z"`)},
		{name: "date 1900 not leap", json: ev(`"date": "1900-02-29T00:00:00Z"`), want: []string{"$.date"}},
		{name: "date leap second", json: ev(`"date": "2016-12-31T23:59:60Z"`), want: []string{"$.date"}},
		{name: "date hour 24", json: ev(`"date": "2024-03-01T24:00:00Z"`), want: []string{"$.date"}},
		{name: "date offset 24h", json: ev(`"date": "2024-03-01T10:00:00+24:00"`), want: []string{"$.date"}},
		{name: "date no zone", json: ev(`"date": "2024-03-01T10:00:00"`), want: []string{"$.date"}},
		{name: "date empty fraction", json: ev(`"date": "2024-03-01T10:00:00.Z"`), want: []string{"$.date"}},
		{name: "date only", json: ev(`"date": "2024-03-01"`), want: []string{"$.date"}},
		{name: "date empty", json: ev(`"date": ""`), want: []string{"$.date"}},
		// null reads as absent only where the reference allows null.
		{name: "date null", json: ev(`"date": null`), want: []string{"$.date"}},
		{name: "date number", json: ev(`"date": 1709287200`), want: []string{"$.date"}},
		// tracking: object or null; ga and utm_* object/string or null.
		{name: "tracking null", json: ev(`"tracking": null`)},
		{name: "tracking empty", json: ev(`"tracking": {}`)},
		{name: "tracking ga null", json: ev(`"tracking": {"ga": null}`)},
		{name: "tracking ga extra", json: ev(`"tracking": {"ga": {"utm_source": "x", "gclid": 7}}`)},
		{name: "tracking ga array", json: ev(`"tracking": {"ga": []}`), want: []string{"$.tracking.ga"}},
		{name: "tracking ga duplicate", json: ev(`"tracking": {"ga": {}, "ga": {}}`), want: []string{"$.tracking.ga"}, goOnly: true},
		{name: "tracking utm duplicate", json: ev(`"tracking": {"ga": {"utm_term": "a", "utm_term": "b"}}`), want: []string{"$.tracking.ga.utm_term"}, goOnly: true},
		// Invalid UTF-8 is not I-JSON: encoding/json would replace it, the
		// API might not, so the event is refused rather than sent (issue 11).
		{name: "invalid utf8 value", json: "{" + bbp + `{"type": "SESSION_ID", "value": "` + "\xff\xfe" + `", "nodeId": "` + testNodeID + `"}}`, want: []string{"$.bringBackProperties.value"}, goOnly: true},
		// Not one JSON object.
		{name: "empty input", json: ``, want: []string{"$"}},
		{name: "null", json: `null`, want: []string{"$"}},
		{name: "trailing data", json: ev("") + ` {}`, want: []string{"$"}},
		{name: "string", json: `"{}"`, want: []string{"$"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMessage(t, eventSchema, []byte(tc.json), tc.want, tc.goOnly)
		})
	}
}

// Every EventType and EventContext of the reference is accepted.
func TestDecodeEventEveryTypeAndContext(t *testing.T) {
	if len(EventTypes) != 48 || len(EventContexts) != 9 {
		t.Fatalf("%d types and %d contexts, the reference has 48 and 9", len(EventTypes), len(EventContexts))
	}
	for _, typ := range EventTypes {
		for _, ctx := range EventContexts {
			data := fmt.Sprintf(`{"customerId": %q, "type": %q, "context": %q, "properties": {}}`, testCustomerID, typ, ctx)
			e, err := DecodeEvent([]byte(data))
			if err != nil {
				t.Fatalf("%s/%s: %v", typ, ctx, err)
			}
			if e.Type != typ || e.Context != ctx {
				t.Fatalf("decoded %s/%s, want %s/%s", e.Type, e.Context, typ, ctx)
			}
		}
	}
}

// eventOfSize pads an otherwise valid event to exactly n bytes.
func eventOfSize(t testing.TB, n int) []byte {
	t.Helper()
	head := `{"customerId": "` + testCustomerID + `", "type": "viewedPage", "context": "WEB", "properties": {"pad": "`
	tail := `"}}`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("cannot build an event of %d bytes", n)
	}
	return []byte(head + strings.Repeat("a", pad) + tail)
}

func TestDecodeEventSizeLimit(t *testing.T) {
	// Exactly at the limit is allowed: "must not exceed".
	if _, err := DecodeEvent(eventOfSize(t, MaxEventBytes)); err != nil {
		t.Errorf("event of %d bytes: %v", MaxEventBytes, err)
	}
	// One byte more is refused, at "$", with a rule that says why.
	_, err := DecodeEvent(eventOfSize(t, MaxEventBytes+1))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Path != "$" || !strings.Contains(ve.Violations[0].Rule, "65536") {
		t.Errorf("event of %d bytes: %v, want one violation at $ naming the limit", MaxEventBytes+1, err)
	}
	// Too big and broken: every violation is reported, not just the size.
	big := strings.Replace(string(eventOfSize(t, MaxEventBytes+10)), `"viewedPage"`, `"nope"`, 1)
	if got := violationPaths(t, eventSchema, second(DecodeEvent([]byte(big)))); !slices.Equal(got, []string{"$", "$.type"}) {
		t.Errorf("big and broken event: violations at %q, want $ and $.type", got)
	}
}

func second[T any](_ T, err error) error { return err }

func TestEventValidate(t *testing.T) {
	valid := func() *Event {
		return &Event{CustomerID: testCustomerID, Type: "viewedPage", Context: "WEB", Properties: json.RawMessage(`{}`)}
	}
	checkValidateModified(t, eventSchema, valid, []modified[Event]{
		// A plain event built in Go.
		{name: "valid", modify: func(*Event) {}},
		// nil Properties marshals as null.
		{name: "nil properties", modify: func(e *Event) { e.Properties = nil }, want: []string{"$.properties"}},
		// json.Marshal refuses a RawMessage that is not JSON.
		{name: "properties not JSON", modify: func(e *Event) { e.Properties = json.RawMessage(`{`) }, want: []string{"$.properties"}},
		{name: "tracking not JSON", modify: func(e *Event) { e.Tracking = json.RawMessage(`nope`) }, want: []string{"$.tracking"}},
		// Empty CustomerID is omitted, so the event has no identity.
		{name: "no identity", modify: func(e *Event) { e.CustomerID = "" }, want: []string{"$"}},
		// Both identities set.
		{name: "both identities", modify: func(e *Event) {
			e.BringBackProperties = &BringBackProperties{Type: "SESSION_ID", Value: "s", NodeID: testNodeID}
		}, want: []string{"$"}},
		// A zero BringBackProperties marshals its empty members.
		{name: "zero bringBack", modify: func(e *Event) {
			e.CustomerID = ""
			e.BringBackProperties = &BringBackProperties{}
		}, want: []string{"$.bringBackProperties.nodeId", "$.bringBackProperties.type", "$.bringBackProperties.value"}},
		// Zero Type and Context are written as "".
		{name: "zero type and context", modify: func(e *Event) { e.Type, e.Context = "", "" }, want: []string{"$.context", "$.type"}},
		// json.Marshal escapes "<" into six bytes: 20k of them make 120k.
		{name: "grows past limit when marshaled", modify: func(e *Event) {
			e.Properties = json.RawMessage(`{"html": "` + strings.Repeat("<", 20000) + `"}`)
		}, want: []string{"$"}},
		// Large but within the limit once marshaled.
		{name: "large within limit", modify: func(e *Event) {
			e.Properties = json.RawMessage(`{"text": "` + strings.Repeat("a", 60000) + `"}`)
		}},
	})
}

// The decoded event must not alias the caller's buffer: Kafka clients may
// reuse it for the next record.
func TestDecodeEventCopiesInput(t *testing.T) {
	data := []byte(ev(`"tracking": {"ga": {"utm_source": "x"}}`))
	e, err := DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = ' '
	}
	if string(e.Properties) != "{}" || string(e.Tracking) != `{"ga": {"utm_source": "x"}}` {
		t.Errorf("decoded raw members changed with the input: %s %s", e.Properties, e.Tracking)
	}
}

func TestValidationError(t *testing.T) {
	_, err := DecodeEvent([]byte(`{"type": "x", "context": "WEB", "properties": {}}`))
	want := "event: $: one of customerId and bringBackProperties is required; $.type: must be one of the 48 EventType values"
	if err == nil || err.Error() != want {
		t.Errorf("Error() = %v, want %q", err, want)
	}
	// Callers find it through wrapping, as the runtime does.
	wrapped := fmt.Errorf("topic events partition 3 offset 17: %w", err)
	var ve *ValidationError
	if !errors.As(wrapped, &ve) || ve.Schema != "event" || len(ve.Violations) != 2 {
		t.Errorf("errors.As through a wrap: %#v", ve)
	}
	// Bad JSON is a ValidationError at "$" with the decoder's message.
	_, err = DecodeEvent([]byte(`{"type": }`))
	if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Path != "$" ||
		!strings.Contains(ve.Violations[0].Rule, "invalid character") {
		t.Errorf("bad JSON: %v", err)
	}
	// Rules never quote values: they reach logs and dead-letter headers.
	_, err = DecodeEvent([]byte(`{"customerId": "secret@example.com", "type": "secret", "context": "WEB", "properties": {}}`))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error quotes customer data: %v", err)
	}
}

// Violations come out sorted, whatever the member order of the input.
func TestViolationsOrderIsDeterministic(t *testing.T) {
	a := `{"zeta": 1, "type": "x", "alpha": 2, "context": "y", "properties": []}`
	b := `{"properties": [], "context": "y", "alpha": 2, "type": "x", "zeta": 1}`
	_, errA := DecodeEvent([]byte(a))
	_, errB := DecodeEvent([]byte(b))
	if errA == nil || errB == nil || errA.Error() != errB.Error() {
		t.Errorf("same violations, different order:\n%v\n%v", errA, errB)
	}
}

// Raw members share one copy of the input; appending to one must not
// overwrite the next.
func TestDecodeEventRawMembersDoNotOverlap(t *testing.T) {
	e, err := DecodeEvent([]byte(ev(`"contextInfo": {"a": 1}`)))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(e.Properties, `xxxxxxxxxxxxxxxxxxxxxxxx`...)
	if string(e.ContextInfo) != `{"a": 1}` {
		t.Errorf("contextInfo overwritten: %s", e.ContextInfo)
	}
}

// The body of Create event is the upstream event as the reference documents
// it: no null members where a null reads as absent, every other byte as it
// came, and the size limit on that body.
func TestCreateEventBody(t *testing.T) {
	const (
		cust = `"customerId":"87d8e330-2878-4742-a86f-dbbb3bf522ac"`
		bb   = `"bringBackProperties":{"type":"SESSION_ID","value":"s-1","nodeId":"959356e3-6168-4a92-b4a5-b9d462be6177"}`
		rest = `"type":"viewedPage","context":"WEB","properties":{"a":null}`
	)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"nothing to drop", `{` + cust + `, ` + rest + `}`, `{` + cust + `, ` + rest + `}`},
		{"customerId null", `{"customerId": null,` + bb + `,` + rest + `}`, `{` + bb + `,` + rest + `}`},
		{"contextInfo null, inner nulls of contextInfo kept", `{` + cust + `,` + rest + `,"contextInfo":null}`, `{` + cust + `,` + rest + `}`},
		{"every top-level null", `{"customerId":null,` + bb + `,` + rest + `,"contextInfo":null,"tracking":null,"date":"2024-05-01T10:00:00Z"}`,
			`{` + bb + `,` + rest + `,"date":"2024-05-01T10:00:00Z"}`},
		{"nulls under tracking", `{` + cust + `,` + rest + `,"contextInfo":{"x":null},"tracking":{"ga":{"utm_source":null,"utm_medium":"m"},"other":{"k":null}}}`,
			`{` + cust + `,` + rest + `,"contextInfo":{"x":null},"tracking":{"ga":{"utm_medium":"m"},"other":{}}}`},
		{"escaped names kept as written", `{"customer\u0049d":null,` + bb + `,` + rest + `,"\u0064ate":"2024-05-01T10:00:00Z"}`,
			`{` + bb + `,` + rest + `,"\u0064ate":"2024-05-01T10:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := CreateEventBody([]byte(tc.in), MaxEventBytes)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.want {
				t.Fatalf("body\n%s\nwant\n%s", body, tc.want)
			}
		})
	}
}

// The size limit applies to the body as sent: an upstream event over it
// only by the nulls it drops is sent; one over it after dropping is not.
func TestCreateEventBodySize(t *testing.T) {
	const limit = 1000
	event := func(pad int, nulls bool) []byte {
		b := `{"customerId":"87d8e330-2878-4742-a86f-dbbb3bf522ac","type":"viewedPage","context":"WEB","properties":{"p":"` + strings.Repeat("x", pad) + `"}`
		if nulls {
			b += `,"contextInfo":null,"tracking":null`
		}
		return []byte(b + "}")
	}
	fits := len(event(0, false))
	atLimit := event(limit-fits, true)
	if len(atLimit) <= limit {
		t.Fatal("the case shows nothing")
	}
	if body, err := CreateEventBody(atLimit, limit); err != nil || len(body) != limit {
		t.Fatalf("%d bytes upstream, %d as sent: %v", len(atLimit), len(body), err)
	}
	if _, err := CreateEventBody(event(limit-fits+1, true), limit); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("one byte over as sent: %v, want ErrEventTooLarge", err)
	}
	var verr *ValidationError
	if _, err := CreateEventBody([]byte(`{"type":"viewedPage"}`), limit); !errors.As(err, &verr) {
		t.Fatalf("invalid event: %v, want a *ValidationError", err)
	}
}

// FuzzCreateEventBody: for every event DecodeEvent accepts, the body made
// of it decodes to the same event and has no null member at its top level.
func FuzzCreateEventBody(f *testing.F) {
	f.Add([]byte(`{"customerId":null,"bringBackProperties":{"type":"SESSION_ID","value":"s","nodeId":"959356e3-6168-4a92-b4a5-b9d462be6177"},"type":"viewedPage","context":"WEB","properties":{},"tracking":{"ga":{"utm_source":null}}}`))
	f.Add([]byte(`{"customerId":"87d8e330-2878-4742-a86f-dbbb3bf522ac","type":"loggedIn","context":"WEB","properties":{"a":null},"contextInfo":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := DecodeEvent(data)
		if err != nil {
			return
		}
		body, err := CreateEventBody(data, 1<<30)
		if err != nil {
			t.Fatalf("CreateEventBody refuses what DecodeEvent accepts: %v", err)
		}
		out, err := DecodeEvent(body)
		if err != nil {
			t.Fatalf("body %s does not decode: %v", body, err)
		}
		if out.CustomerID != in.CustomerID || out.Type != in.Type || out.Context != in.Context || out.Date != in.Date ||
			!bytes.Equal(out.Properties, in.Properties) || !bytes.Equal(out.ContextInfo, in.ContextInfo) ||
			(out.BringBackProperties == nil) != (in.BringBackProperties == nil) {
			t.Fatalf("body %s decodes to %+v, the event was %+v", body, out, in)
		}
		r, _ := readObject(body)
		for _, v, ok := r.next(); ok; _, v, ok = r.next() {
			if kindOf(v) == kindNull {
				t.Fatalf("body %s keeps a null member", body)
			}
		}
	})
}
