package streams

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// The CloudEvents Kafka protocol binding, both ways. In binary mode the
// event's attributes are headers named ce_<attribute> (datacontenttype is
// the content-type header) and the record's value is the event's data; in
// structured mode the value is the whole event in the JSON format and the
// content-type header is application/cloudevents+json. The attribute rules
// (which are required, how a time is written, what an extension may be
// called) are the CloudEvents Go SDK's, not written again here.

// HeaderContentType is the header of the media type of a record's value:
// the data's in binary mode, application/cloudevents+json in structured
// mode.
const HeaderContentType = "content-type"

// cloudEventPrefix is what every binary-mode attribute header starts with.
const cloudEventPrefix = "ce_"

// kafkaBinding is the SDK's table of attributes for every spec version,
// their names prefixed as the Kafka binding has them.
var kafkaBinding = spec.WithPrefix(cloudEventPrefix)

// ErrCloudEvent marks a record that says it is a CloudEvent (a
// ce_specversion header, or a structured content type) but is not a valid
// one. A sink dead-letters such a record.
var ErrCloudEvent = errors.New("not a valid CloudEvent")

// CloudEventOf reads the CloudEvent r carries, in binary or structured
// mode. It returns nil and no error when r carries none; an error that Is
// ErrCloudEvent, naming every broken rule, when r says it is one but breaks
// the spec.
func CloudEventOf(r *Record) (*event.Event, error) {
	var specVersion, contentType []byte
	for _, h := range r.Headers {
		switch {
		case strings.EqualFold(h.Key, cloudEventPrefix+"specversion"):
			specVersion = h.Value
		case strings.EqualFold(h.Key, HeaderContentType):
			contentType = h.Value
		}
	}
	switch {
	case specVersion != nil:
		return binaryCloudEvent(r, string(specVersion), string(contentType))
	case format.Lookup(string(contentType)) == format.JSON:
		e := event.New()
		if err := format.JSON.Unmarshal(r.Value, &e); err != nil {
			return nil, fmt.Errorf("%w: structured mode: %v", ErrCloudEvent, err)
		}
		if err := e.Validate(); err != nil {
			return nil, cloudEventError("structured mode", err)
		}
		return &e, nil
	}
	return nil, nil
}

func binaryCloudEvent(r *Record, specVersion, contentType string) (*event.Event, error) {
	v := kafkaBinding.Version(specVersion)
	if v == nil {
		return nil, fmt.Errorf("%w: binary mode: specversion %q is not one of 1.0, 0.3", ErrCloudEvent, specVersion)
	}
	e := event.Event{Context: v.NewContext()}
	for _, h := range r.Headers {
		if len(h.Key) <= len(cloudEventPrefix) || !strings.EqualFold(h.Key[:len(cloudEventPrefix)], cloudEventPrefix) {
			continue
		}
		a := v.Attribute(h.Key)
		if a != nil && a.Kind() == spec.SpecVersion {
			continue
		}
		// SetAttribute sets a known attribute by its kind's rules and any
		// other ce_ header as an extension, checking its name.
		if err := v.SetAttribute(e.Context, h.Key, string(h.Value)); err != nil {
			return nil, fmt.Errorf("%w: binary mode: header %s: %v", ErrCloudEvent, h.Key, err)
		}
	}
	if contentType != "" {
		if err := e.Context.SetDataContentType(contentType); err != nil {
			return nil, fmt.Errorf("%w: binary mode: content-type: %v", ErrCloudEvent, err)
		}
	}
	if err := e.Validate(); err != nil {
		return nil, cloudEventError("binary mode", err)
	}
	e.DataEncoded = r.Value
	return &e, nil
}

// cloudEventError names every broken rule of the SDK's validation in a
// stable order (the SDK keeps them in a map).
func cloudEventError(mode string, err error) error {
	var ve event.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%w: %s: %v", ErrCloudEvent, mode, err)
	}
	parts := make([]string, 0, len(ve))
	for _, k := range slices.Sorted(maps.Keys(ve)) {
		parts = append(parts, k+": "+ve[k].Error())
	}
	return fmt.Errorf("%w: %s: %s", ErrCloudEvent, mode, strings.Join(parts, "; "))
}

// CloudEventHeaders are the binary-mode headers of e: ce_<attribute> for
// each attribute set, ce_<name> for each extension and content-type for
// datacontenttype. The record's value is then e's data. e must be valid
// (event.Event.Validate).
func CloudEventHeaders(e *event.Event) []Header {
	v := kafkaBinding.Version(e.SpecVersion())
	if v == nil {
		v = kafkaBinding.Latest()
	}
	hs := make([]Header, 0, 8)
	for _, a := range v.Attributes() {
		val := a.Get(e.Context)
		if val == nil {
			continue
		}
		s, err := types.Format(val)
		if err != nil {
			continue // the SDK's own attribute values always format
		}
		name := a.PrefixedName()
		if a.Kind() == spec.DataContentType {
			name = HeaderContentType
		}
		hs = append(hs, Header{Key: name, Value: []byte(s)})
	}
	exts := e.Extensions()
	for _, name := range slices.Sorted(maps.Keys(exts)) {
		s, err := types.Format(exts[name])
		if err != nil {
			continue
		}
		hs = append(hs, Header{Key: cloudEventPrefix + name, Value: []byte(s)})
	}
	return hs
}
