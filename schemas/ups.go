package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Collection is an Algonomy UPS enrichment collection: the last path segment
// of the enrichment endpoint, and what the record's value holds.
type Collection string

const (
	UserAttributes  Collection = "rr-userattributes"
	Segments        Collection = "rr-segments"
	UserLinking     Collection = "userlinking"
	UserPreferences Collection = "rr-userpreferences"
)

// Collections are all the collections UPS enriches.
var Collections = []Collection{UserAttributes, Segments, UserLinking, UserPreferences}

// ErrUnknownCollection is wrapped by ParseCollection, and by DecodeUPSRecord
// and UPSRecord.Validate when given a collection that is not one of
// Collections. It means a configuration or programming error, not a bad
// record: a caller must not dead-letter records because of it.
var ErrUnknownCollection = errors.New("unknown UPS collection")

// upsSchemas names the schema of each collection; looked up rather than
// concatenated so the hot path does not build the same string per record.
var upsSchemas = map[Collection]string{
	UserAttributes:  "ups-rr-userattributes",
	Segments:        "ups-rr-segments",
	UserLinking:     "ups-userlinking",
	UserPreferences: "ups-rr-userpreferences",
}

// ParseCollection accepts the collection names exactly as UPS spells them.
func ParseCollection(s string) (Collection, error) {
	c := Collection(s)
	if _, ok := upsSchemas[c]; !ok {
		return "", fmt.Errorf("schemas: %w %q (want one of %q)", ErrUnknownCollection, s, Collections)
	}
	return c, nil
}

// preferenceVerbs are the verbs of rr-userpreferences in lower case. The
// reference spells them 'like', 'dislike', 'disLike', 'neutral' and
// 'Notforrecs', so case cannot matter.
var preferenceVerbs = []string{"like", "dislike", "neutral", "notforrecs"}

// UPSRecord is one user's enrichment: the value of an upstream profile topic
// and one element of the "data" of a UPS enrichment request.
type UPSRecord struct {
	UserID string          `json:"userId"`
	Value  json.RawMessage `json:"value"`
}

// DecodeUPSRecord decodes and validates one record of collection c. The
// record must be I-JSON (RFC 7493) all the way down: its value is sent as it
// came. The error is a *ValidationError, unless c is unknown (see
// ErrUnknownCollection).
func DecodeUPSRecord(c Collection, data []byte) (*UPSRecord, error) {
	schema, ok := upsSchemas[c]
	if !ok {
		return nil, fmt.Errorf("schemas: decode UPS record: %w %q", ErrUnknownCollection, string(c))
	}
	v := violations{schema: schema}
	if !decodeIJSONRoot(&v, data) {
		return nil, v.err()
	}
	rec := &UPSRecord{}
	var userID, value kind
	readMembers(&v, "$", data, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "userId":
			return seenString(&userID, &rec.UserID, val, k)
		case "value":
			rec.Value = json.RawMessage(val)
			return seen(&value, k)
		}
		return memberUnknown
	})
	checkUPSRecord(&v, c, rec, userID, value)
	if err := v.err(); err != nil {
		return nil, err
	}
	// Copied only now: the caller may reuse data, and an invalid record
	// is not worth the allocation.
	rec.Value = bytes.Clone(rec.Value)
	return rec, nil
}

// Validate reports whether the JSON that json.Marshal makes of r is a valid
// record of collection c. The error is a *ValidationError, unless c is
// unknown (see ErrUnknownCollection).
func (r *UPSRecord) Validate(c Collection) error {
	schema, ok := upsSchemas[c]
	if !ok {
		return fmt.Errorf("schemas: validate UPS record: %w %q", ErrUnknownCollection, string(c))
	}
	v := violations{schema: schema}
	checkUPSRecord(&v, c, r, kindString, rawKind(r.Value, false))
	// json.Marshal copies the value as it is: it must be I-JSON as a
	// decoded record's is.
	checkRawIJSON(&v, "$.value", r.Value)
	return v.err()
}

func checkUPSRecord(v *violations, c Collection, r *UPSRecord, userID, value kind) {
	checkMember(v, "$.userId", userID, kindString, required, r.UserID != "", ruleNonEmpty)
	switch value {
	case kindAbsent:
		v.add("$.value", ruleRequired)
	case kindInvalid:
		v.add("$.value", ruleNotJSON)
	default:
		switch c {
		case UserAttributes:
			checkStringArrays(v, r.Value, value, "must be an object of attribute name to array of strings", nil)
		case Segments:
			checkSegments(v, r.Value, value)
		case UserLinking:
			checkUserLinking(v, r.Value, value)
		case UserPreferences:
			checkStringArrays(v, r.Value, value, "must be an object of preference verb to array of product ids", isPreferenceVerb)
		}
	}
}

// checkStringArrays checks an object of name -> array of strings, the shape
// of rr-userattributes and rr-userpreferences. allowName, when set, limits
// the names.
func checkStringArrays(v *violations, raw []byte, k kind, rule string, allowName func([]byte) bool) {
	if k != kindObject {
		v.add("$.value", rule)
		return
	}
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		badName := allowName != nil && !allowName(name)
		if !badName && isStringArray(val) {
			continue
		}
		// The path is built only for a member that breaks a rule.
		path := memberPath("$.value", string(name))
		if badName {
			v.add(path, "must be one of the verbs like, dislike, neutral, notforrecs (any case)")
			continue
		}
		checkStringArray(v, path, val)
	}
}

func isStringArray(raw []byte) bool {
	r, ok := readArray(raw)
	if !ok {
		return false
	}
	for val, ok := r.next(); ok; val, ok = r.next() {
		if kindOf(val) != kindString {
			return false
		}
	}
	return true
}

func checkStringArray(v *violations, path string, raw []byte) {
	r, ok := readArray(raw)
	if !ok {
		v.add(path, "must be an array of strings")
		return
	}
	i := 0
	for val, ok := r.next(); ok; val, ok = r.next() {
		if kindOf(val) != kindString {
			v.add(indexPath(path, i), ruleString)
		}
		i++
	}
}

func checkSegments(v *violations, raw []byte, k kind) {
	if k != kindObject {
		v.add("$.value", "must be an object of segment name to string")
		return
	}
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		if kindOf(val) != kindString {
			v.add(memberPath("$.value", string(memberName(key))), ruleString)
		}
	}
}

func checkUserLinking(v *violations, raw []byte, k kind) {
	if k != kindArray {
		v.add("$.value", "must be an array of linked user ids")
		return
	}
	r, _ := readArray(raw)
	i := 0
	for val, ok := r.next(); ok; val, ok = r.next() {
		if kindOf(val) != kindString || isEmptyString(val) {
			v.add(indexPath("$.value", i), ruleNonEmpty)
		}
		i++
	}
}

// isPreferenceVerb folds ASCII only. strings.EqualFold would also fold the
// Kelvin sign into k and the long s into s, which the schema's [Kk] and [Ss]
// do not, and which UPS is unlikely to read as a verb either.
func isPreferenceVerb(name []byte) bool {
	for _, verb := range preferenceVerbs {
		if len(name) != len(verb) {
			continue
		}
		match := true
		for i := range len(name) {
			c := name[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != verb[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
