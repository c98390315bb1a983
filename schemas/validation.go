package schemas

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Violation is one broken rule, located by a JSON path like
// "$.bringBackProperties.nodeId". Member names that are not plain identifiers
// use the bracket form of RFC 9535 normalized paths: $.value['fav color'].
type Violation struct {
	Path string
	Rule string
}

// ValidationError lists every violation of one message. Schema is the name
// the schema has in Lookup ("event", "ups-rr-segments", ...), so a dead-letter
// record can say which contract the message broke.
//
// Rules never quote the offending value: values are customer data and the
// error ends up in logs and dead-letter headers.
type ValidationError struct {
	Schema     string
	Violations []Violation
}

// Error gives "<schema>: <path>: <rule>; <path>: <rule>", violations sorted by
// path then rule, so equal messages give equal errors.
func (e *ValidationError) Error() string {
	if len(e.Violations) == 0 {
		return e.Schema + ": invalid"
	}
	var b strings.Builder
	b.WriteString(e.Schema)
	b.WriteString(": ")
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Path)
		b.WriteString(": ")
		b.WriteString(v.Rule)
	}
	return b.String()
}

// Rules shared by several schemas. Keeping the texts in one place keeps the
// messages of different topics alike for whoever reads the dead letters.
const (
	ruleRequired  = "is required"
	ruleUnknown   = "is not a known field"
	ruleDuplicate = "duplicate member name"
	ruleNotObject = "must be a JSON object"
	ruleNotJSON   = "must be valid JSON"
	ruleNonEmpty  = "must be a non-empty string"
	ruleString    = "must be a string"
)

// violations collects the broken rules of one message. It allocates nothing
// until the first violation, which keeps the valid path cheap.
type violations struct {
	schema string
	list   []Violation
}

func (v *violations) add(path, rule string) {
	v.list = append(v.list, Violation{Path: path, Rule: rule})
}

// err returns nil or a *ValidationError; never a typed nil inside an error.
func (v *violations) err() error {
	if len(v.list) == 0 {
		return nil
	}
	slices.SortFunc(v.list, func(a, b Violation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return &ValidationError{Schema: v.schema, Violations: slices.Compact(v.list)}
}

// decodeRoot checks that data is one JSON object. Syntax errors carry the
// message of encoding/json so they read like every other decode error in Go.
func decodeRoot(v *violations, data []byte) bool {
	if !json.Valid(data) {
		var discard struct{}
		// Unmarshal checks the syntax before it decodes anything, so this
		// only produces the SyntaxError that json.Valid does not return.
		err := json.Unmarshal(data, &discard)
		if err == nil {
			v.add("$", ruleNotJSON)
		} else {
			v.add("$", err.Error())
		}
		return false
	}
	if kindOf(data) != kindObject {
		v.add("$", ruleNotObject)
		return false
	}
	return true
}

// readMembers walks the members of the object raw and hands each to read,
// which decodes what it knows of the member and keeps its kind (seen,
// seenString, seenEnum), or answers memberUnknown. Unknown and repeated
// members are reported here, under parent, so that every decoder rejects
// them alike.
func readMembers(v *violations, parent string, raw []byte, read func(name, val []byte, k kind) memberStatus) {
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		switch read(name, val, kindOf(val)) {
		case memberUnknown:
			v.add(memberPath(parent, string(name)), ruleUnknown)
		case memberRepeated:
			v.add(memberPath(parent, string(name)), ruleDuplicate)
		}
	}
}

// memberStatus is what a decoder's read says of one member.
type memberStatus uint8

const (
	memberUnknown  memberStatus = iota // not a member of the schema
	memberFirst                        // the first member of its name
	memberRepeated                     // a name that came before
)

// seen keeps k as the kind of the member whose kind slot holds. It takes the
// slot rather than returning it, so that a decoder's shape stays on the
// stack.
func seen(slot *kind, k kind) memberStatus {
	prev := *slot
	*slot = k
	if prev != kindAbsent {
		return memberRepeated
	}
	return memberFirst
}

// seenString is seen for a string member: a string is decoded into dst,
// another kind leaves dst alone for the checks to report.
func seenString(slot *kind, dst *string, val []byte, k kind) memberStatus {
	if k == kindString {
		*dst = decodeString(val)
	}
	return seen(slot, k)
}

// seenEnum is seenString for a member with a closed set of values, so that
// a known value shares the set's string instead of allocating its own.
func seenEnum(slot *kind, dst *string, set map[string]string, val []byte, k kind) memberStatus {
	if k == kindString {
		*dst, _ = enumString(val, set)
	}
	return seen(slot, k)
}

// presence says what a member may be instead of a value.
type presence uint8

const (
	required presence = iota // absence breaks ruleRequired, null breaks the member's rule
	optional                 // may be absent; null breaks the member's rule
	nullable                 // may be absent or null
)

// checkMember applies what the rules of every member share: whether it may
// be absent or null, that a raw value json.Marshal would refuse is not JSON,
// and that a value of another kind than want, or one that is not valid,
// breaks rule. It reports whether the member holds a value of kind want, for
// the caller to look further into it.
func checkMember(v *violations, path string, k, want kind, p presence, valid bool, rule string) bool {
	switch {
	case k == kindAbsent:
		if p == required {
			v.add(path, ruleRequired)
		}
		return false
	case k == kindNull && p == nullable:
		return false
	case k == kindInvalid:
		v.add(path, ruleNotJSON)
		return false
	case k != want:
		v.add(path, rule)
		return false
	case !valid:
		v.add(path, rule)
	}
	return true
}

// memberPath appends a member name to a path. Names are customer data in
// UPS values, so they may hold anything; the bracket form keeps the path
// unambiguous whatever they hold.
func memberPath(parent, name string) string {
	if isShorthandName(name) {
		return parent + "." + name
	}
	var b strings.Builder
	b.Grow(len(parent) + len(name) + 4)
	b.WriteString(parent)
	b.WriteString("['")
	for _, r := range name {
		switch {
		case r == '\'':
			b.WriteString(`\'`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString("']")
	return b.String()
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// isShorthandName follows the member-name-shorthand of RFC 9535.
func isShorthandName(name string) bool {
	if name == "" || !utf8.ValidString(name) {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= 0x80:
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
