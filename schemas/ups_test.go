package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseCollection(t *testing.T) {
	for _, c := range Collections {
		got, err := ParseCollection(string(c))
		if err != nil || got != c {
			t.Errorf("ParseCollection(%q) = %q, %v", c, got, err)
		}
	}
	// Names are exact: a typo in configuration must fail at start-up, not
	// dead-letter every record.
	for _, s := range []string{"", "RR-SEGMENTS", "rr-userlinking", "rr-preferences", "segments"} {
		if _, err := ParseCollection(s); !errors.Is(err, ErrUnknownCollection) {
			t.Errorf("ParseCollection(%q): %v, want ErrUnknownCollection", s, err)
		}
	}
}

// An unknown collection is a caller's bug, not a bad record: it must not
// look like a *ValidationError, or the record would be dead-lettered.
func TestUnknownCollectionIsNotAValidationError(t *testing.T) {
	_, err := DecodeUPSRecord("rr-nope", []byte(`{"userId": "u", "value": {}}`))
	var ve *ValidationError
	if !errors.Is(err, ErrUnknownCollection) || errors.As(err, &ve) {
		t.Errorf("DecodeUPSRecord: %v", err)
	}
	err = (&UPSRecord{UserID: "u", Value: json.RawMessage(`{}`)}).Validate("rr-nope")
	if !errors.Is(err, ErrUnknownCollection) || errors.As(err, &ve) {
		t.Errorf("Validate: %v", err)
	}
}

func TestDecodeUPSRecordRules(t *testing.T) {
	rec := func(value string) string { return `{"userId": "u1", "value": ` + value + `}` }
	manyAttributes := func(n int, dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"a%d": ["x"], `, i)
		}
		if dup {
			b.WriteString(`"a0": ["y"], `)
		}
		b.WriteString(`"last": []}`)
		return b.String()
	}
	cases := []struct {
		c Collection
		messageCase
	}{
		// userId: mandatory, a non-empty string, never null.
		{UserAttributes, messageCase{name: "userId null", json: `{"userId": null, "value": {}}`, want: []string{"$.userId"}}},
		{UserAttributes, messageCase{name: "userId escaped", json: `{"userId": "\u0031", "value": {}}`}},
		// value: required, and not null.
		{Segments, messageCase{name: "value null", json: rec(`null`), want: []string{"$.value"}}},
		{UserLinking, messageCase{name: "value missing", json: `{"userId": "u1"}`, want: []string{"$.value"}}},
		// Unknown record members are refused.
		{UserLinking, messageCase{name: "siteId", json: `{"userId": "u1", "value": [], "siteId": 1723}`, want: []string{"$.siteId"}}},
		// Duplicates at the top level.
		{Segments, messageCase{name: "duplicate userId", json: `{"userId": "u1", "userId": "u2", "value": {}}`, want: []string{"$.userId"}, goOnly: true}},
		// Attributes: any name, arrays of strings only.
		{UserAttributes, messageCase{name: "attribute empty name", json: rec(`{"": ["x"]}`)}},
		{UserAttributes, messageCase{name: "attribute null list", json: rec(`{"color": null}`), want: []string{"$.value.color"}}},
		{UserAttributes, messageCase{name: "attribute nested list", json: rec(`{"color": [["red"]]}`), want: []string{"$.value.color[0]"}}},
		// Many attributes: duplicate detection switches to a map, and still
		// catches the duplicate.
		{UserAttributes, messageCase{name: "many attributes", json: rec(manyAttributes(40, false))}},
		{UserAttributes, messageCase{name: "many attributes duplicate", json: rec(manyAttributes(40, true)), want: []string{"$.value.a0"}, goOnly: true}},
		// Escaped and plain spellings of one attribute are a duplicate.
		{UserAttributes, messageCase{name: "escaped duplicate attribute", json: rec(`{"a": ["x"], "\u0061": ["y"]}`), want: []string{"$.value.a"}, goOnly: true}},
		// Segments: values are strings, even empty ones.
		{Segments, messageCase{name: "segment empty value", json: rec(`{"Member": ""}`)}},
		{Segments, messageCase{name: "segment null", json: rec(`{"Member": null}`), want: []string{"$.value.Member"}}},
		// User linking: non-empty string ids.
		{UserLinking, messageCase{name: "linking null id", json: rec(`[null]`), want: []string{"$.value[0]"}}},
		{UserLinking, messageCase{name: "linking string", json: rec(`"1234"`), want: []string{"$.value"}}},
		// Preferences: the four verbs in any ASCII case, nothing else.
		{UserPreferences, messageCase{name: "verbs any case", json: rec(`{"nOtFoRrEcS": ["p"], "NEUTRAL": []}`)}},
		{UserPreferences, messageCase{name: "verb with space", json: rec(`{"like ": ["p"]}`), want: []string{"$.value['like ']"}}},
		// The long s folds to s in Unicode, not in the schema's [Ss].
		{UserPreferences, messageCase{name: "verb long s", json: rec(`{"di\u017flike": ["p"]}`), want: []string{"$.value.di\u017flike"}}},
		{UserPreferences, messageCase{name: "verb items", json: rec(`{"like": ["p", {}]}`), want: []string{"$.value.like[1]"}}},
		{UserPreferences, messageCase{name: "preferences array", json: rec(`[]`), want: []string{"$.value"}}},
	}
	for _, tc := range cases {
		t.Run(string(tc.c)+"/"+tc.name, func(t *testing.T) {
			checkMessage(t, upsSchemas[tc.c], []byte(tc.json), tc.want, tc.goOnly)
		})
	}
}

func TestUPSRecordValidate(t *testing.T) {
	cases := []struct {
		name string
		c    Collection
		rec  UPSRecord
		want []string
	}{
		// Records built in Go, one per collection.
		{name: "attributes", c: UserAttributes, rec: UPSRecord{UserID: "u", Value: json.RawMessage(`{"a": ["b"]}`)}},
		{name: "segments", c: Segments, rec: UPSRecord{UserID: "u", Value: json.RawMessage(`{"a": "b"}`)}},
		{name: "linking", c: UserLinking, rec: UPSRecord{UserID: "u", Value: json.RawMessage(`["b"]`)}},
		{name: "preferences", c: UserPreferences, rec: UPSRecord{UserID: "u", Value: json.RawMessage(`{"Like": ["b"]}`)}},
		// The zero record: empty userId and a null value.
		{name: "zero", c: Segments, want: []string{"$.userId", "$.value"}},
		// A value that json.Marshal would refuse.
		{name: "value not JSON", c: Segments, rec: UPSRecord{UserID: "u", Value: json.RawMessage(`{"a":`)}, want: []string{"$.value"}},
		// The right value for the wrong collection.
		{name: "wrong collection", c: UserLinking, rec: UPSRecord{UserID: "u", Value: json.RawMessage(`{"a": "b"}`)}, want: []string{"$.value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkValidate(t, upsSchemas[tc.c], &tc.rec, tc.want)
		})
	}
}

func TestDecodeUPSRecordCopiesInput(t *testing.T) {
	data := []byte(`{"userId": "u1", "value": {"fav_color": ["red"]}}`)
	r, err := DecodeUPSRecord(UserAttributes, data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = ' '
	}
	if r.UserID != "u1" || string(r.Value) != `{"fav_color": ["red"]}` {
		t.Errorf("decoded record changed with the input: %+v", r)
	}
}
