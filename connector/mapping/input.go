package mapping

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/contactlab/connector/streams"
)

// Input is the document a program sees for r:
//
//	key        the record's key as a string (null when it has none)
//	value      the value parsed as JSON (numbers keep every digit); null when
//	           the value is empty or not JSON
//	raw        the value as a string, only when it is not JSON
//	headers    {name: value} as strings (the first of a repeated name)
//	topic, partition, offset
//	timestamp  the record's time, RFC 3339 with milliseconds, UTC
//	ce         for a CloudEvent: its attributes (specversion, id, source,
//	           type, subject, time, datacontenttype, dataschema) and
//	           extensions, as strings
//	data       for a CloudEvent: its data, parsed as JSON when it is JSON,
//	           else as a string
//
// A record that says it is a CloudEvent but breaks the spec is an error
// that Is streams.ErrCloudEvent.
func Input(r *streams.Record) (map[string]any, error) {
	e, err := streams.CloudEventOf(r)
	if err != nil {
		return nil, err
	}
	// Seven members, nine with a CloudEvent's, one more for a value that is
	// not JSON: up to eight, Go keeps a map in one group of slots, which
	// is smaller and quicker to look up in than a table.
	size := 7
	if e != nil {
		size += 2
	}
	in := make(map[string]any, size)
	if r.Key != nil {
		in["key"] = string(r.Key)
	} else {
		in["key"] = nil
	}
	v, isJSON := parseJSON(r.Value)
	in["value"] = v
	if !isJSON && len(r.Value) > 0 {
		in["raw"] = string(r.Value)
	}
	hs := make(map[string]any, len(r.Headers))
	for _, h := range r.Headers {
		if _, seen := hs[h.Key]; !seen {
			hs[h.Key] = string(h.Value)
		}
	}
	in["headers"] = hs
	in["topic"] = r.Topic
	in["partition"] = r.Partition
	in["offset"] = json.Number(strconv.FormatInt(r.Offset, 10))
	if !r.Time.IsZero() {
		in["timestamp"] = r.Time.UTC().Format(timestampLayout)
	} else {
		in["timestamp"] = nil
	}
	if e != nil {
		in["ce"] = cloudEventAttributes(e)
		in["data"] = cloudEventData(e, binaryMode(r), v, isJSON, r.Value)
	}
	return in, nil
}

// timestampLayout is RFC 3339 with milliseconds, the precision of a Kafka
// timestamp, in the shape Contacthub's date fields take.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

func cloudEventAttributes(e *event.Event) map[string]any {
	ce := make(map[string]any, 8)
	ce["specversion"] = e.SpecVersion()
	ce["id"] = e.ID()
	ce["source"] = e.Source()
	ce["type"] = e.Type()
	if s := e.Subject(); s != "" {
		ce["subject"] = s
	}
	if t := e.Time(); !t.IsZero() {
		ce["time"] = t.UTC().Format(time.RFC3339Nano)
	}
	if s := e.DataContentType(); s != "" {
		ce["datacontenttype"] = s
	}
	if s := e.DataSchema(); s != "" {
		ce["dataschema"] = s
	}
	for name, val := range maps.All(e.Extensions()) {
		if _, std := ce[name]; !std {
			ce[name] = fmt.Sprint(val)
		}
	}
	return ce
}

// cloudEventData is the event's data: in binary mode the record's value,
// already parsed (or the raw string); in structured mode the data member of
// the envelope, parsed when its media type is JSON, a string otherwise, and
// data_base64 as the base64 text it was sent as.
func cloudEventData(e *event.Event, binary bool, value any, valueIsJSON bool, raw []byte) any {
	switch {
	case binary && valueIsJSON:
		return value
	case binary && len(raw) > 0:
		return string(raw)
	case binary, len(e.DataEncoded) == 0:
		return nil
	case e.DataBase64:
		return base64.StdEncoding.EncodeToString(e.DataEncoded)
	}
	if mt, _ := e.Context.GetDataMediaType(); mt == "" || strings.HasSuffix(mt, "json") {
		if v, ok := parseJSON(e.DataEncoded); ok {
			return v
		}
	}
	return string(e.DataEncoded)
}

// binaryMode reports whether r carries a CloudEvent in binary mode.
func binaryMode(r *streams.Record) bool {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, "ce_specversion") {
			return true
		}
	}
	return false
}
