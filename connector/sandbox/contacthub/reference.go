package contacthub

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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
	CustomerID          string `json:"customerId"`
	BringBackProperties *struct {
		Value  string `json:"value"`
		NodeID string `json:"nodeId"`
	} `json:"bringBackProperties"`
	Type       string          `json:"type"`
	Context    string          `json:"context"`
	Properties json.RawMessage `json:"properties"`
	Date       string          `json:"date"`
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
	var ev referenceEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		// The schema accepted it, so this is a bug of the stand-in.
		panic(fmt.Sprintf("contacthub sandbox: decoding an accepted event: %v", err))
	}
	return &ev, nil
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
// stand-in refuses the ambiguity rather than pick one. Bodies that are not
// JSON are left to the schema check, which words that error.
func repeatedMembers(body []byte) []fieldError {
	type frame struct {
		object bool
		path   string
		names  map[string]bool
		// key is the member name read last, while its value is pending.
		key     string
		haveKey bool
		index   int
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*frame
	var errs []fieldError
	// childPath is the path of the value about to be read.
	childPath := func() string {
		if len(stack) == 0 {
			return "$"
		}
		f := stack[len(stack)-1]
		if f.object {
			return f.path + "." + f.key
		}
		return fmt.Sprintf("%s[%d]", f.path, f.index)
	}
	// valueDone moves the enclosing frame past the value just read.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		f := stack[len(stack)-1]
		if f.object {
			f.haveKey = false
		} else {
			f.index++
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return errs
		}
		if err != nil {
			return errs
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.object && !top.haveKey {
			if top.names[s] && !slices.ContainsFunc(errs, func(e fieldError) bool { return e.Path == top.path+"."+s }) {
				errs = append(errs, fieldError{Message: "must not repeat", Path: top.path + "." + s})
			}
			top.names[s] = true
			top.key, top.haveKey = s, true
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, path: childPath(), names: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{path: childPath()})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}
