package contacthub

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// The stand-in judges requests by its own reading of the reference, not by
// the connector's package schemas: a rule the connector misread must be
// refused here, not agreed with. Create event's rules are a JSON Schema
// transcribed from the reference (reference/create-event.schema.json),
// checked by santhosh-tekuri/jsonschema; the rules JSON Schema cannot say
// (payload size, repeated member names, aggregate nodes) are code here.

//go:embed reference/create-event.schema.json
var createEventSchemaJSON []byte

const createEventSchemaURL = "https://github.com/contactlab/connector/connector/sandbox/contacthub/reference/create-event.schema.json"

var createEventSchema = sync.OnceValue(func() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(createEventSchemaJSON))
	if err != nil {
		panic(fmt.Sprintf("contacthub sandbox: create-event schema: %v", err))
	}
	c := jsonschema.NewCompiler()
	// Draft 2020-12 only annotates formats unless told to assert them.
	c.AssertFormat()
	if err := c.AddResource(createEventSchemaURL, doc); err != nil {
		panic(fmt.Sprintf("contacthub sandbox: create-event schema: %v", err))
	}
	s, err := c.Compile(createEventSchemaURL)
	if err != nil {
		panic(fmt.Sprintf("contacthub sandbox: create-event schema: %v", err))
	}
	return s
})

// referenceEvent is what the stand-in reads of an accepted event.
type referenceEvent struct {
	CustomerID string
	// BringBack is set for an event named by bringBackProperties.
	BringBack *struct{ Value, NodeID string }
	Type      string
	Context   string
	// Properties is the event's properties as decoded (numbers as
	// json.Number), re-encoded when the event is streamed.
	Properties any
	Date       string
}

// checkCreateEvent applies the reference's rules for a Create event body
// (within the payload limit, checked before) and returns the event, or the
// broken rules with their JSON paths ("$.bringBackProperties.nodeId").
func checkCreateEvent(body []byte) (*referenceEvent, []fieldError) {
	if errs := repeatedMembers(body); len(errs) > 0 {
		return nil, errs
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return nil, []fieldError{{Message: "must be one JSON value: " + err.Error(), Path: "$"}}
	}
	if err := createEventSchema().Validate(inst); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			return nil, []fieldError{{Message: err.Error(), Path: "$"}}
		}
		var errs []fieldError
		flattenSchemaError(verr, &errs)
		return nil, errs
	}
	// The schema held every type below, so the assertions cannot fail.
	m := inst.(map[string]any)
	str := func(v any) string { s, _ := v.(string); return s }
	ev := &referenceEvent{CustomerID: str(m["customerId"]), Type: str(m["type"]), Context: str(m["context"]), Properties: m["properties"], Date: str(m["date"])}
	if bb, ok := m["bringBackProperties"].(map[string]any); ok {
		ev.BringBack = &struct{ Value, NodeID string }{str(bb["value"]), str(bb["nodeId"])}
	}
	return ev, nil
}

// flattenSchemaError lists the leaves of a validation error as the API's
// errors[]: one per broken rule, at the member it concerns.
func flattenSchemaError(e *jsonschema.ValidationError, out *[]fieldError) {
	path := jsonPath(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf:
		// The only anyOf is the event's identity; its branches' errors
		// ("customerId is required") would say less than this.
		*out = append(*out, fieldError{Message: "must contain customerId or bringBackProperties (an object)", Path: path})
		return
	case *kind.Not:
		*out = append(*out, fieldError{Message: "customerId and bringBackProperties are mutually exclusive", Path: path})
		return
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, fieldError{Message: "is required", Path: path + "." + m})
		}
		return
	case *kind.AdditionalProperties:
		for _, m := range k.Properties {
			*out = append(*out, fieldError{Message: "is not a member the reference lists", Path: path + "." + m})
		}
		return
	}
	if len(e.Causes) == 0 {
		*out = append(*out, fieldError{Message: ruleMessage(e.ErrorKind), Path: path})
		return
	}
	for _, c := range e.Causes {
		flattenSchemaError(c, out)
	}
}

func ruleMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return "must be " + strings.Join(k.Want, " or ") + ", not " + k.Got
	case *kind.Enum:
		return "must be one of the values the reference lists"
	case *kind.Format:
		return "must be a " + k.Want + " string"
	case *kind.MinLength:
		return "must not be empty"
	}
	return "breaks the rule " + strings.Join(k.KeywordPath(), "/")
}

func jsonPath(loc []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range loc {
		b.WriteString(".")
		b.WriteString(s)
	}
	return b.String()
}

// repeatedMembers finds member names that repeat within one object, at any
// depth. The reference does not say which of two values would count; the
// stand-in refuses the ambiguity rather than pick one. It walks the bytes
// once, without decoding values; what is not JSON is left to the decoding
// that follows, which words that error.
func repeatedMembers(body []byte) []fieldError {
	type frame struct {
		object bool
		path   string
		names  [][]byte // this object's member names so far, unescaped
		index  int      // this list's items so far
	}
	var (
		stack []frame
		errs  []fieldError
		key   []byte // the last member name read, until its value starts
	)
	// valuePath is the path of the value starting now; only objects and
	// lists need one, and only to name a repeat.
	valuePath := func() string {
		if len(stack) == 0 {
			return "$"
		}
		f := &stack[len(stack)-1]
		if f.object {
			return f.path + "." + string(key)
		}
		return f.path + "[" + strconv.Itoa(f.index) + "]"
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '"':
			end, escaped := i+1, false
			for end < len(body) && body[end] != '"' {
				if body[end] == '\\' {
					end, escaped = end+1, true
				}
				end++
			}
			if end >= len(body) {
				return errs
			}
			// A string followed by a colon is a member name.
			j := end + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
				j++
			}
			if j >= len(body) || body[j] != ':' || len(stack) == 0 || !stack[len(stack)-1].object {
				i = end
				continue
			}
			name := body[i+1 : end]
			if escaped {
				var s string
				if json.Unmarshal(body[i:end+1], &s) != nil {
					return errs
				}
				name = []byte(s)
			}
			f := &stack[len(stack)-1]
			if slices.ContainsFunc(f.names, func(n []byte) bool { return bytes.Equal(n, name) }) {
				if p := f.path + "." + string(name); !slices.ContainsFunc(errs, func(e fieldError) bool { return e.Path == p }) {
					errs = append(errs, fieldError{Message: "must not repeat", Path: p})
				}
			} else {
				f.names = append(f.names, name)
			}
			key, i = name, j
		case '{', '[':
			stack = append(stack, frame{object: c == '{', path: valuePath()})
		case '}', ']':
			if len(stack) == 0 {
				return errs
			}
			stack = stack[:len(stack)-1]
		case ',':
			if len(stack) > 0 && !stack[len(stack)-1].object {
				stack[len(stack)-1].index++
			}
		}
	}
	return errs
}
