package ups

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The enrichment endpoint reads a body in one pass (readPayload): one scan
// of the bytes builds, for each element of data, the instance the JSON
// Schema library validates (what jsonschema.UnmarshalJSON would build:
// map[string]any, []any, string, json.Number, bool, nil) and notes where
// its value lies, so that the accepted value is stored as sent without
// decoding the record a second time. It replaced three passes of
// encoding/json per record (the envelope, data's elements, the record as
// schemas.UPSRecord), most of the stand-in's CPU under load.
//
// It is an accelerator, never a judge: whenever a body is anything but
// plainly well-formed (a syntax error, a member name that only
// encoding/json's case-insensitive matching would take for siteId, type or
// data, a repeated envelope member, a siteId that is not an int64, a string
// it would have to repair...), it gives up and decodePayload reads the body
// with encoding/json, whose answers and messages are the rules. A fuzz test
// holds it to that: what it builds equals what encoding/json builds.

// maxOnePassDepth is the deepest nesting read in one pass; deeper bodies
// (never a valid record: the schemas are two levels deep) go to
// encoding/json, which has its own limit.
const maxOnePassDepth = 64

// onePass is the state of one read.
type onePass struct {
	b     []byte
	i     int
	depth int
	// items holds the elements of the arrays being read, innermost last,
	// so that each array is allocated once, at its size.
	items []any
	// strs are strings already read, boxed as instances hold them: member
	// names and the values records share (verbs, tiers, colours) are
	// allocated once per body, not once per record.
	strs map[string]any
}

// maxInterned bounds strs: past it, strings are allocated each time (the
// user and product ids, which repeat little).
const maxInterned = 512

// readPayload reads body as decodePayload would, in one pass, with each
// record's instance and the bytes of its value; ok is false when it gave up
// and decodePayload must read the body instead.
func readPayload(body []byte, single bool) (p payload, ok bool) {
	r := onePass{b: body, strs: make(map[string]any, 64)}
	r.space()
	if !r.byte('{') {
		return p, false
	}
	var siteID, typ, data bool
	for first := true; ; first = false {
		key, end, ok := r.member(first)
		if !ok {
			return p, false
		}
		if end {
			break
		}
		switch key {
		case "siteId":
			if siteID {
				return p, false
			}
			siteID = true
			start := r.i
			v, ok := r.value()
			if !ok {
				return p, false
			}
			if v == nil {
				continue // null: absent
			}
			if _, isNum := v.(json.Number); !isNum {
				return p, false
			}
			id, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
			if err != nil {
				return p, false
			}
			p.siteID = &id
		case "type":
			if typ {
				return p, false
			}
			typ = true
			v, ok := r.value()
			if !ok {
				return p, false
			}
			if v == nil {
				continue
			}
			s, isStr := v.(string)
			if !isStr {
				return p, false
			}
			p.typ = &s
		case "data":
			if data {
				return p, false
			}
			data = true
			if !r.data(&p, single) {
				return p, false
			}
		default:
			if foldsTo(key, "siteId", "type", "data") {
				// encoding/json would take it for that member.
				return p, false
			}
			if _, ok := r.value(); !ok {
				return p, false
			}
		}
	}
	r.space()
	if r.i != len(r.b) || len(p.elems) == 0 {
		return p, false
	}
	return p, true
}

// data reads the value of data: an array of records for POST, one record
// for PUT; anything else is left to decodePayload's messages.
func (r *onePass) data(p *payload, single bool) bool {
	if single {
		return r.record(p)
	}
	if !r.byte('[') {
		return false
	}
	r.space()
	if r.byte(']') {
		return false // no records: decodePayload says so
	}
	for {
		r.space()
		if !r.record(p) {
			return false
		}
		r.space()
		if r.byte(']') {
			return true
		}
		if !r.byte(',') {
			return false
		}
	}
}

// record reads one element of data, which must be an object, noting its
// bytes, its instance and where its (last) value member lies.
func (r *onePass) record(p *payload) bool {
	start := r.i
	if !r.byte('{') {
		return false
	}
	r.depth++
	obj := make(map[string]any, 2)
	var value []byte
	for first := true; ; first = false {
		key, end, ok := r.member(first)
		if !ok {
			return false
		}
		if end {
			break
		}
		vs := r.i
		v, ok := r.value()
		if !ok {
			return false
		}
		obj[key] = v
		if key == "value" {
			value = r.b[vs:r.i]
		}
	}
	r.depth--
	p.elems = append(p.elems, r.b[start:r.i])
	p.insts = append(p.insts, obj)
	p.values = append(p.values, value)
	return true
}

// member reads an object up to the value of its next member: the comma
// before it unless it is the first, its name and the colon, with the white
// space around them. end is true when the object ended instead (its '}'
// read); ok is false when what is there is neither.
func (r *onePass) member(first bool) (key string, end, ok bool) {
	r.space()
	if r.byte('}') {
		return "", true, true
	}
	if !first && !(r.byte(',') && r.spaceThen()) {
		return "", false, false
	}
	if key, ok = r.str(); !ok {
		return "", false, false
	}
	r.space()
	if !r.byte(':') {
		return "", false, false
	}
	r.space()
	return key, false, true
}

// value reads any JSON value into what encoding/json with UseNumber gives.
func (r *onePass) value() (any, bool) {
	if r.i >= len(r.b) {
		return nil, false
	}
	switch c := r.b[r.i]; {
	case c == '"':
		return r.quoted()
	case c == '{':
		return r.object()
	case c == '[':
		return r.array()
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	case c == 't':
		return true, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n':
		return nil, r.literal("null")
	}
	return nil, false
}

func (r *onePass) object() (any, bool) {
	r.i++ // {
	if r.depth++; r.depth > maxOnePassDepth {
		return nil, false
	}
	obj := make(map[string]any)
	for first := true; ; first = false {
		key, end, ok := r.member(first)
		if !ok {
			return nil, false
		}
		if end {
			r.depth--
			return obj, true
		}
		v, ok := r.value()
		if !ok {
			return nil, false
		}
		obj[key] = v
	}
}

func (r *onePass) array() (any, bool) {
	r.i++ // [
	if r.depth++; r.depth > maxOnePassDepth {
		return nil, false
	}
	base := len(r.items)
	defer func() {
		clear(r.items[base:])
		r.items = r.items[:base]
	}()
	r.space()
	if r.byte(']') {
		r.depth--
		return []any{}, true
	}
	for {
		r.space()
		v, ok := r.value()
		if !ok {
			return nil, false
		}
		r.items = append(r.items, v)
		r.space()
		if r.byte(']') {
			r.depth--
			return append([]any(nil), r.items[base:]...), true
		}
		if !r.byte(',') {
			return nil, false
		}
	}
}

// str reads a string.
func (r *onePass) str() (string, bool) {
	v, ok := r.quoted()
	if !ok {
		return "", false
	}
	return v.(string), true
}

// quoted reads a string, boxed. One of plain printable ASCII is taken as
// it is; one with escapes or other bytes is unquoted by encoding/json
// itself, so that escapes, surrogates and invalid UTF-8 read exactly as it
// reads them.
func (r *onePass) quoted() (any, bool) {
	if !r.byte('"') {
		return nil, false
	}
	start := r.i
	plain := true
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if plain {
				raw := r.b[start : r.i-1]
				if v, ok := r.strs[string(raw)]; ok {
					return v, true
				}
				var v any = string(raw)
				if len(r.strs) < maxInterned {
					r.strs[v.(string)] = v
				}
				return v, true
			}
			var s string
			if json.Unmarshal(r.b[start-1:r.i], &s) != nil {
				return nil, false
			}
			return s, true
		case c == '\\':
			plain = false
			r.i += 2 // the escaped byte cannot end the string
		case c < 0x20:
			return nil, false
		case c >= 0x80:
			plain = false
			r.i++
		default:
			r.i++
		}
	}
	return nil, false
}

// number reads a number by the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *onePass) number() (any, bool) {
	start := r.i
	r.byte('-')
	switch {
	case r.byte('0'):
	case r.i < len(r.b) && r.b[r.i] >= '1' && r.b[r.i] <= '9':
		r.digits()
	default:
		return nil, false
	}
	if r.byte('.') && !r.digits() {
		return nil, false
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if !r.byte('+') {
			r.byte('-')
		}
		if !r.digits() {
			return nil, false
		}
	}
	return json.Number(r.b[start:r.i]), true
}

// digits reads one or more decimal digits.
func (r *onePass) digits() bool {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}

func (r *onePass) literal(word string) bool {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return false
	}
	r.i += len(word)
	return true
}

// byte consumes c if it is next.
func (r *onePass) byte(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *onePass) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// spaceThen skips white space and reports true, to chain after a comma.
func (r *onePass) spaceThen() bool {
	r.space()
	return true
}

// foldsTo reports whether encoding/json could take key for one of names:
// it matches member names to fields case-insensitively, with Unicode's
// folds (the long s and the Kelvin sign fold to s and k), so a key with
// any byte beyond ASCII is reported as a match, which only sends the body
// to encoding/json.
func foldsTo(key string, names ...string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= 0x80 {
			return true
		}
	}
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}
