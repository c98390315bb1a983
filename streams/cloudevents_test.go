package streams_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/contactlab/connector/streams"
)

// The binary-mode headers written for an event read back as the same event.
func TestCloudEventHeadersRoundTrip(t *testing.T) {
	e := event.New()
	e.SetID("contacthub.customers/0@611")
	e.SetSource("/contacthub/workspaces/w-1")
	e.SetType("com.contactlab.hub.customer.updated")
	e.SetSubject("c-1")
	e.SetTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	e.SetDataContentType("application/json")
	e.SetExtension("offset", "611")
	hs := streams.CloudEventHeaders(&e)
	want := []string{"ce_id=contacthub.customers/0@611", "ce_source=/contacthub/workspaces/w-1", "ce_specversion=1.0", "ce_type=com.contactlab.hub.customer.updated",
		"content-type=application/json", "ce_subject=c-1", "ce_time=2026-11-23T10:00:00Z", "ce_offset=611"}
	var got []string
	for _, h := range hs {
		got = append(got, h.Key+"="+string(h.Value))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("headers\n got %v\nwant %v", got, want)
	}
	back, err := streams.CloudEventOf(&streams.Record{Value: []byte(`{"id":"c-1"}`), Headers: hs})
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != e.ID() || back.Type() != e.Type() || back.Source() != e.Source() || back.Subject() != "c-1" || !back.Time().Equal(e.Time()) ||
		back.DataContentType() != "application/json" || back.Extensions()["offset"] != "611" || string(back.Data()) != `{"id":"c-1"}` {
		t.Fatalf("read back %s", back)
	}
}

func TestCloudEventOf(t *testing.T) {
	h := func(kv ...string) []streams.Header {
		var hs []streams.Header
		for i := 0; i+1 < len(kv); i += 2 {
			hs = append(hs, streams.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	for _, tc := range []struct {
		name    string
		rec     streams.Record
		none    bool
		wantErr string
		typ     string
	}{
		{name: "no headers: none", rec: streams.Record{Value: []byte(`{}`)}, none: true},
		{name: "a JSON content type: none", rec: streams.Record{Value: []byte(`{}`), Headers: h("content-type", "application/json")}, none: true},
		{name: "binary mode", rec: streams.Record{Value: []byte(`{}`), Headers: h("ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s", "ce_type", "t")}, typ: "t"},
		{name: "binary mode, header names in any case", rec: streams.Record{Headers: h("CE_SPECVERSION", "1.0", "ce_Id", "1", "ce_source", "/s", "ce_type", "t")}, typ: "t"},
		{name: "binary mode 0.3", rec: streams.Record{Headers: h("ce_specversion", "0.3", "ce_id", "1", "ce_source", "/s", "ce_type", "t03")}, typ: "t03"},
		{name: "binary mode, missing type", rec: streams.Record{Headers: h("ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s")}, wantErr: "binary mode: type:"},
		{name: "binary mode, bad extension name", rec: streams.Record{Headers: h("ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s", "ce_type", "t", "ce_bad-name", "x")}, wantErr: "ce_bad-name"},
		{name: "structured mode", rec: streams.Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"st","data":{}}`), Headers: h("content-type", "application/cloudevents+json")}, typ: "st"},
		{name: "structured mode, not an object", rec: streams.Record{Value: []byte(`[]`), Headers: h("content-type", "application/cloudevents+json")}, wantErr: "structured mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := streams.CloudEventOf(&tc.rec)
			switch {
			case tc.wantErr != "":
				if !errors.Is(err, streams.ErrCloudEvent) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an ErrCloudEvent naming %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case tc.none:
				if e != nil {
					t.Fatalf("got %s, want none", e)
				}
			case e == nil || e.Type() != tc.typ:
				t.Fatalf("got %v, want type %s", e, tc.typ)
			}
		})
	}
}
