package schemas

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The decoders walk objects member by member instead of handing them to
// json.Unmarshal, for three reasons:
//   - encoding/json matches member names case-insensitively, so
//     {"CUSTOMERID": ...} would fill CustomerID while the JSON Schema
//     (additionalProperties false) rejects the message;
//   - it stops reporting at the first type error, and we report them all;
//   - it keeps the last of duplicate members silently, and we reject them.
// Input is checked first (checkIJSON, or json.Valid for update envelopes),
// so the walker only has to find where values end, not to validate them. It
// still never reads out of bounds: EntityKey runs it on data nobody checked.

// kind is the JSON type of a value as JSON Schema's "type" sees it, plus
// absent for a member that is not there and invalid for a hand-built
// json.RawMessage that json.Marshal would refuse.
type kind uint8

const (
	kindAbsent kind = iota
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
	kindInvalid
)

// kindOf reads the kind from the first byte of a value that is known to be
// valid JSON.
func kindOf(raw []byte) kind {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return kindAbsent
	}
	switch raw[i] {
	case '{':
		return kindObject
	case '[':
		return kindArray
	case '"':
		return kindString
	case 'n':
		return kindNull
	case 't', 'f':
		return kindBool
	default:
		return kindNumber
	}
}

// rawKind is the kind json.Marshal gives a json.RawMessage field of a struct:
// an empty one is absent under omitempty and null without it.
func rawKind(raw json.RawMessage, omitEmpty bool) kind {
	if len(raw) == 0 {
		if omitEmpty {
			return kindAbsent
		}
		return kindNull
	}
	if !json.Valid(raw) {
		return kindInvalid
	}
	return kindOf(raw)
}

// stringKind is the kind json.Marshal gives a string field.
func stringKind(s string, omitEmpty bool) kind {
	if s == "" && omitEmpty {
		return kindAbsent
	}
	return kindString
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index past the string that starts at data[i] == '"',
// or -1 if data ends inside it.
func skipString(data []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for k := i - 1; k >= 0 && data[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index past the value that starts at data[i], or -1
// if data does not hold a whole value there.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		start := i
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if i == start {
					return -1
				}
				return i
			}
			i++
		}
		return i
	}
}

// objectReader walks the members of one JSON object.
type objectReader struct {
	data  []byte
	i     int
	first bool
	// malformed is set when the walk stopped on something that is not JSON;
	// only EntityKey can see it, every other caller checked the input first.
	malformed bool
}

// readObject starts a walk, or reports false if raw is not an object.
func readObject(raw []byte) (objectReader, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return objectReader{}, false
	}
	return objectReader{data: raw, i: i + 1, first: true}, true
}

// next returns the next member. key is the name as written, without quotes
// and possibly escaped; see memberName.
func (r *objectReader) next() (key, value []byte, ok bool) {
	d := r.data
	i := skipSpace(d, r.i)
	if i >= len(d) {
		r.malformed = true
		return nil, nil, false
	}
	if d[i] == '}' {
		r.i = len(d)
		return nil, nil, false
	}
	if !r.first {
		if d[i] != ',' {
			r.malformed = true
			return nil, nil, false
		}
		i = skipSpace(d, i+1)
	}
	r.first = false
	if i >= len(d) || d[i] != '"' {
		r.malformed = true
		return nil, nil, false
	}
	end := skipString(d, i)
	if end < 0 {
		r.malformed = true
		return nil, nil, false
	}
	key = d[i+1 : end-1]
	i = skipSpace(d, end)
	if i >= len(d) || d[i] != ':' {
		r.malformed = true
		return nil, nil, false
	}
	i = skipSpace(d, i+1)
	vend := skipValue(d, i)
	if vend < 0 {
		r.malformed = true
		return nil, nil, false
	}
	r.i = vend
	return key, d[i:vend], true
}

// arrayReader walks the items of one JSON array.
type arrayReader struct {
	data      []byte
	i         int
	first     bool
	malformed bool
}

func readArray(raw []byte) (arrayReader, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return arrayReader{}, false
	}
	return arrayReader{data: raw, i: i + 1, first: true}, true
}

func (r *arrayReader) next() (value []byte, ok bool) {
	d := r.data
	i := skipSpace(d, r.i)
	if i >= len(d) {
		r.malformed = true
		return nil, false
	}
	if d[i] == ']' {
		r.i = len(d)
		return nil, false
	}
	if !r.first {
		if d[i] != ',' {
			r.malformed = true
			return nil, false
		}
		i = skipSpace(d, i+1)
	}
	r.first = false
	vend := skipValue(d, i)
	if vend < 0 {
		r.malformed = true
		return nil, false
	}
	r.i = vend
	return d[i:vend], true
}

// memberName returns the name a raw key spells, as encoding/json (and so the
// JSON Schema validator) reads it: escapes resolved, invalid UTF-8 replaced.
// Two keys are the same member exactly when their names are equal. It
// allocates only for keys with escapes or invalid UTF-8; the result is meant
// for switch string(name), which the compiler does without converting.
func memberName(key []byte) []byte {
	if bytes.IndexByte(key, '\\') < 0 && utf8.Valid(key) {
		return key
	}
	var s string
	// The key came out of a string the walker found, so only a malformed
	// escape can fail here, and then the name matches nothing.
	quoted := make([]byte, 0, len(key)+2)
	quoted = append(append(append(quoted, '"'), key...), '"')
	if json.Unmarshal(quoted, &s) != nil {
		return key
	}
	return []byte(s)
}

// decodeString decodes a JSON string value. The fast path copies the bytes
// between the quotes; escapes and invalid UTF-8 go through encoding/json so
// the result is exactly what json.Unmarshal would give.
func decodeString(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// isEmptyString reports whether raw is the JSON string "", which no escape
// can spell, so comparing bytes is exact.
func isEmptyString(raw []byte) bool {
	return len(raw) == 2 && raw[0] == '"' && raw[1] == '"'
}

// enumString decodes a string that should be one of a closed set. Members of
// the set come back as the set's own string, so valid messages allocate
// nothing for their enum fields.
func enumString(raw []byte, set map[string]string) (string, bool) {
	if len(raw) >= 2 {
		if s, ok := set[string(raw[1:len(raw)-1])]; ok {
			return s, true
		}
	}
	s := decodeString(raw)
	c, ok := set[s]
	if ok {
		return c, true
	}
	return s, false
}

func stringSet(values []string) map[string]string {
	m := make(map[string]string, len(values))
	for _, v := range values {
		m[v] = v
	}
	return m
}
