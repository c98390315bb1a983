package schemas

import (
	"encoding/json"
	"testing"
	"time"
)

const testWorkspace = "b2a02e56-a6da-4b02-b80e-d32fdf441aaf"

// envelope builds an envelope JSON with the given offset, entity type and data.
func envelope(entityType, offset, data string) string {
	return `{"operation": "UPDATE", "entityType": "` + entityType + `", "offset": ` + offset +
		`, "workspaceId": "` + testWorkspace + `", "data": ` + data + `, "readAt": "2024-03-01T10:00:00Z"}`
}

func TestDecodeUpdateEnvelopeRules(t *testing.T) {
	cust := `{"id": "c1"}`
	cases := []messageCase{
		// JSON Schema counts 1.0 and 1e3 as integers, so must we.
		{name: "offset 1.0", json: envelope("CUSTOMER", "1.0", cust)},
		{name: "offset 1e3", json: envelope("CUSTOMER", "1e3", cust)},
		{name: "offset 1500e-3", json: envelope("CUSTOMER", "1500e-3", cust), want: []string{"$.offset"}},
		{name: "offset -0", json: envelope("CUSTOMER", "-0", cust)},
		// The int64 range, exactly, with no float rounding at its edge.
		{name: "offset max", json: envelope("CUSTOMER", "9223372036854775807", cust)},
		{name: "offset max+1", json: envelope("CUSTOMER", "9223372036854775808", cust), want: []string{"$.offset"}},
		{name: "offset 1e19", json: envelope("CUSTOMER", "1e19", cust), want: []string{"$.offset"}},
		{name: "offset fraction", json: envelope("CUSTOMER", "1.5", cust), want: []string{"$.offset"}},
		{name: "offset string", json: envelope("CUSTOMER", `"1"`, cust), want: []string{"$.offset"}},
		// offsetSource says what offset is; envelopes written before it have none.
		{name: "offsetSource page", json: `{"operation": "CREATE", "entityType": "CUSTOMER", "offset": 1, "offsetSource": "page", "workspaceId": "w", "data": {"id": "c"}, "readAt": "2024-03-01T10:00:00Z"}`},
		{name: "offsetSource update", json: `{"operation": "CREATE", "entityType": "CUSTOMER", "offset": 1, "offsetSource": "update", "workspaceId": "w", "data": {"id": "c"}, "readAt": "2024-03-01T10:00:00Z"}`},
		{name: "offsetSource unknown", json: `{"operation": "CREATE", "entityType": "CUSTOMER", "offset": 1, "offsetSource": "guess", "workspaceId": "w", "data": {"id": "c"}, "readAt": "2024-03-01T10:00:00Z"}`, want: []string{"$.offsetSource"}},
		{name: "offsetSource null", json: `{"operation": "CREATE", "entityType": "CUSTOMER", "offset": 1, "offsetSource": null, "workspaceId": "w", "data": {"id": "c"}, "readAt": "2024-03-01T10:00:00Z"}`, want: []string{"$.offsetSource"}},
		// data.id is what keys a customer.
		{name: "customer id empty", json: envelope("CUSTOMER", "1", `{"id": ""}`), want: []string{"$.data.id"}},
		{name: "customer id number", json: envelope("CUSTOMER", "1", `{"id": 7}`), want: []string{"$.data.id"}},
		{name: "customer id duplicate", json: envelope("CUSTOMER", "1", `{"id": "a", "id": "b"}`), want: []string{"$.data.id"}, goOnly: true},
		// Events key on customerId, which anonymous events lack.
		{name: "event without customer", json: envelope("EVENT", "1", `{"id": "e1"}`)},
		{name: "event customer null", json: envelope("EVENT", "1", `{"customerId": null}`)},
		{name: "event customer duplicate", json: envelope("EVENT", "1", `{"customerId": "a", "customerId": "b"}`), want: []string{"$.data.customerId"}, goOnly: true},
		// Other members of data are Contacthub's business.
		{name: "data duplicates elsewhere", json: envelope("CUSTOMER", "1", `{"id": "a", "x": 1, "x": 2}`)},
		// An unknown entity type skips the data rules but is itself reported.
		{name: "entity type unknown", json: envelope("ORDER", "1", `{}`), want: []string{"$.entityType"}},
		// readAt: a date-time from 1970 on, in any zone.
		{name: "readAt lowercase", json: `{"operation": "CREATE", "entityType": "CUSTOMER", "offset": 1, "workspaceId": "w", "data": {"id": "c"}, "readAt": "2024-03-01t10:00:00.123456789123z"}`},
		{name: "readAt 1969", json: `{"operation": "CREATE", "entityType": "CUSTOMER", "offset": 1, "workspaceId": "w", "data": {"id": "c"}, "readAt": "1969-12-31T23:59:59Z"}`, want: []string{"$.readAt"}},
		{name: "readAt unix", json: `{"operation": "CREATE", "entityType": "CUSTOMER", "offset": 1, "workspaceId": "w", "data": {"id": "c"}, "readAt": 1709287200}`, want: []string{"$.readAt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMessage(t, updateEnvelopeSchema, []byte(tc.json), tc.want, tc.goOnly)
		})
	}
}

func TestDecodeUpdateEnvelopeFields(t *testing.T) {
	data := `{"operation": "DELETE", "entityType": "CUSTOMER", "offset": 42, "workspaceId": "w", "nodeId": "n",
		"data": {"id": "c\u0031"}, "readAt": "2024-03-01T11:30:00.5+01:30"}`
	u, err := DecodeUpdateEnvelope([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	wantAt := time.Date(2024, 3, 1, 10, 0, 0, 5e8, time.UTC)
	if u.Operation != "DELETE" || u.EntityType != "CUSTOMER" || u.Offset != 42 || u.Workspace != "w" ||
		u.NodeID != "n" || !u.ReadAt.Equal(wantAt) || u.EntityKey() != "c1" {
		t.Errorf("decoded %+v (key %q)", u, u.EntityKey())
	}
	// The zone survives, so the envelope marshals back to what was read.
	if b, _ := u.ReadAt.MarshalJSON(); string(b) != `"2024-03-01T11:30:00.5+01:30"` {
		t.Errorf("readAt marshals as %s", b)
	}
}

func TestEntityKey(t *testing.T) {
	cases := []struct {
		name       string
		entityType string
		data       string
		want       string
	}{
		// Customers key on their own id.
		{name: "customer", entityType: "CUSTOMER", data: `{"nodeId": "n", "id": "c1"}`, want: "c1"},
		// Events key on their customer, so they follow the customer.
		{name: "event", entityType: "EVENT", data: `{"id": "e1", "customerId": "c1"}`, want: "c1"},
		// Anonymous events have no key.
		{name: "anonymous event", entityType: "EVENT", data: `{"id": "e1", "customerId": null}`, want: ""},
		// Escapes are resolved.
		{name: "escaped", entityType: "CUSTOMER", data: `{"\u0069d": "c\u00e9"}`, want: "cé"},
		// Nested ids are not the entity's.
		{name: "nested only", entityType: "CUSTOMER", data: `{"base": {"id": "x"}}`, want: ""},
		// Garbage in a hand-built envelope yields no key and no panic.
		{name: "malformed", entityType: "CUSTOMER", data: `{"id"`, want: ""},
		{name: "not object", entityType: "CUSTOMER", data: `["id", "c1"]`, want: ""},
		{name: "empty", entityType: "CUSTOMER", data: ``, want: ""},
		{name: "unknown type", entityType: "ORDER", data: `{"id": "c1"}`, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := &UpdateEnvelope{EntityType: tc.entityType, Data: json.RawMessage(tc.data)}
			if got := u.EntityKey(); got != tc.want {
				t.Errorf("EntityKey() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUpdateEnvelopeValidate(t *testing.T) {
	valid := func() *UpdateEnvelope {
		return &UpdateEnvelope{
			Operation: "CREATE", EntityType: "CUSTOMER", Offset: 7, Workspace: testWorkspace,
			Data: json.RawMessage(`{"id": "c1"}`), ReadAt: time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC),
		}
	}
	checkValidateModified(t, updateEnvelopeSchema, valid, []modified[UpdateEnvelope]{
		{name: "valid", modify: func(*UpdateEnvelope) {}},
		// A ReadAt in a zone with a negative offset still counts its own year.
		{name: "zoned readAt", modify: func(u *UpdateEnvelope) {
			u.ReadAt = time.Date(1970, 1, 1, 0, 30, 0, 0, time.FixedZone("", -3600))
		}},
		// The producer forgot ReadAt.
		{name: "zero readAt", modify: func(u *UpdateEnvelope) { u.ReadAt = time.Time{} }, want: []string{"$.readAt"}},
		// json.Marshal refuses years past 9999.
		{name: "readAt year 10000", modify: func(u *UpdateEnvelope) { u.ReadAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, want: []string{"$.readAt"}},
		{name: "negative offset", modify: func(u *UpdateEnvelope) { u.Offset = -1 }, want: []string{"$.offset"}},
		{name: "nil data", modify: func(u *UpdateEnvelope) { u.Data = nil }, want: []string{"$.data"}},
		{name: "data not JSON", modify: func(u *UpdateEnvelope) { u.Data = json.RawMessage(`{`) }, want: []string{"$.data"}},
		{name: "zero strings", modify: func(u *UpdateEnvelope) { u.Operation, u.EntityType, u.Workspace = "", "", "" },
			want: []string{"$.entityType", "$.operation", "$.workspaceId"}},
		{name: "event keyless", modify: func(u *UpdateEnvelope) { u.EntityType = "EVENT" }},
		{name: "offset from the page", modify: func(u *UpdateEnvelope) { u.OffsetSource = OffsetSourcePage }},
		{name: "offset source unknown", modify: func(u *UpdateEnvelope) { u.OffsetSource = "guess" }, want: []string{"$.offsetSource"}},
	})
}

// StreamPage decodes the reference's sample with plain encoding/json: it is
// read from the API, not validated here.
func TestStreamPageDecodes(t *testing.T) {
	const sample = `{"nextOffset": 0, "updates": [{"operation": "CREATE", "entity": {"type": "CUSTOMER", "data": {}}}]}`
	var p StreamPage
	if err := json.Unmarshal([]byte(sample), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Updates) != 1 || p.Updates[0].Operation != "CREATE" || p.Updates[0].Entity.Type != "CUSTOMER" ||
		string(p.Updates[0].Entity.Data) != "{}" {
		t.Errorf("decoded %+v", p)
	}
}
