package schemas

import (
	"bytes"
	"encoding/json"
)

const categorizationSchema = "categorization-request"

// The engine the reference documents, and the only profile and country it
// gives for it; absent members default to them.
const (
	DefaultEngine      = "e1"
	DefaultProfile     = "retail"
	DefaultCountryCode = "nl"
)

const (
	ruleEngine      = "engine must be e1 or another engine's name"
	ruleProfile     = "for engine e1 the only profile is retail"
	ruleCountryCode = "for engine e1 the only countryCode is nl"
	ruleMetaData    = "for engine e1 metaData must be empty (absent, null, {}, [] or \"\")"
	ruleNoSubject   = "exactly one of consentId, userId, externalUserId and accountIds is required, none given"
	ruleTwoSubjects = "exactly one of consentId, userId, externalUserId and accountIds is required, several given"
	ruleAccountIDs  = "must be an array of one or more non-empty strings"
)

// CategorizationRequest asks EnableNow to categorize one subject, named in
// exactly one of four ways: consentId, userId, externalUserId or accountIds.
// It is the value of the upstream categorization topic and the body of
// POST /v2/categorization-jobs.
//
// The reference gives the fields and rules of engine e1 only (the engine it
// recommends, not the only one). A request for another engine is read no
// further than its engine and forwarded as it came: Verbatim holds it, and
// it is what json.Marshal makes of the request.
type CategorizationRequest struct {
	Engine         string          `json:"engine,omitempty"`
	Profile        string          `json:"profile,omitempty"`
	CountryCode    string          `json:"countryCode,omitempty"`
	ConsentID      string          `json:"consentId,omitempty"`
	UserID         string          `json:"userId,omitempty"`
	ExternalUserID string          `json:"externalUserId,omitempty"`
	AccountIDs     []string        `json:"accountIds,omitempty"`
	MetaData       json.RawMessage `json:"metaData,omitempty"`
	// Verbatim is the request as received (compacted), for an engine other
	// than e1; nil for e1.
	Verbatim json.RawMessage `json:"-"`
}

// MarshalJSON is the request as it is sent: Verbatim when set (another
// engine's request, forwarded as it came), the fields otherwise.
func (r CategorizationRequest) MarshalJSON() ([]byte, error) {
	if r.Verbatim != nil {
		return r.Verbatim, nil
	}
	type fields CategorizationRequest // without this method
	return json.Marshal(fields(r))
}

// IsOtherEngine reports whether the request is for an engine other than
// e1, whose fields the reference does not give.
func (r *CategorizationRequest) IsOtherEngine() bool {
	return r.Engine != "" && r.Engine != DefaultEngine
}

// categorizationShape remembers the JSON types the struct cannot. Null reads
// as absent for every member: producers that write every field, null or not,
// are common and mean nothing by it.
type categorizationShape struct {
	engine, profile, countryCode, consentID, userID, externalUserID, accountIDs, metaData kind
}

// DecodeCategorizationRequest decodes and validates one request, then fills
// in the defaults EnableNow applies (engine e1, profile retail, countryCode
// nl), so what is sent says what is meant. A request for another engine
// (engine a non-empty string other than e1) is checked only for what makes
// it readable at all and alike by every parser (one I-JSON object, RFC 7493:
// no member name twice at any depth, no invalid UTF-8, unpaired surrogate
// or number beyond a double) and kept Verbatim. Every request must be
// I-JSON. The error is a *ValidationError.
func DecodeCategorizationRequest(data []byte) (*CategorizationRequest, error) {
	v := violations{schema: categorizationSchema}
	if !decodeIJSONRoot(&v, data) {
		return nil, v.err()
	}
	if engine, ok := otherEngine(data); ok {
		// Duplicate names, the one rule of JSON Schema's "object" this
		// request could break, were reported with the rest of I-JSON.
		if err := v.err(); err != nil {
			return nil, err
		}
		// Compact, as json.Marshal would send it anyway: members, order and
		// values stay as they came.
		var compact bytes.Buffer
		if err := json.Compact(&compact, data); err != nil {
			v.add("$", ruleNotJSON)
			return nil, v.err()
		}
		return &CategorizationRequest{Engine: engine, Verbatim: compact.Bytes()}, nil
	}
	req := &CategorizationRequest{}
	var s categorizationShape
	readMembers(&v, "$", data, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "engine":
			return seenString(&s.engine, &req.Engine, val, k)
		case "profile":
			return seenString(&s.profile, &req.Profile, val, k)
		case "countryCode":
			return seenString(&s.countryCode, &req.CountryCode, val, k)
		case "consentId":
			return seenString(&s.consentID, &req.ConsentID, val, k)
		case "userId":
			return seenString(&s.userID, &req.UserID, val, k)
		case "externalUserId":
			return seenString(&s.externalUserID, &req.ExternalUserID, val, k)
		case "accountIds":
			if k == kindArray {
				req.AccountIDs = decodeAccountIDs(val)
			}
			return seen(&s.accountIDs, k)
		case "metaData":
			if k != kindNull {
				req.MetaData = json.RawMessage(val)
			}
			return seen(&s.metaData, k)
		}
		return memberUnknown
	})
	checkCategorization(&v, req, &s)
	if err := v.err(); err != nil {
		return nil, err
	}
	if len(req.MetaData) > 0 {
		req.MetaData = bytes.Clone(req.MetaData)
	}
	req.applyDefaults()
	return req, nil
}

// otherEngine finds the first engine member of the object data and reports
// whether it names an engine other than e1.
func otherEngine(data []byte) (string, bool) {
	r, _ := readObject(data)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		if string(memberName(key)) != "engine" {
			continue
		}
		if kindOf(val) != kindString {
			return "", false
		}
		e := decodeString(val)
		return e, e != "" && e != DefaultEngine
	}
	return "", false
}

// decodeAccountIDs keeps one element per item, "" for an item that is not a
// string, so the non-empty rule reports it at its own index.
func decodeAccountIDs(raw []byte) []string {
	ids := []string{}
	r, _ := readArray(raw)
	for val, ok := r.next(); ok; val, ok = r.next() {
		if kindOf(val) == kindString {
			ids = append(ids, decodeString(val))
		} else {
			ids = append(ids, "")
		}
	}
	return ids
}

func (r *CategorizationRequest) applyDefaults() {
	if r.Engine == "" {
		r.Engine = DefaultEngine
	}
	if r.Profile == "" {
		r.Profile = DefaultProfile
	}
	if r.CountryCode == "" {
		r.CountryCode = DefaultCountryCode
	}
}

// Validate reports whether the JSON that json.Marshal makes of r is a valid
// request. Empty Engine, Profile and CountryCode are valid: json.Marshal
// omits them and EnableNow applies the defaults. A request for another
// engine is valid when Verbatim, if set, is what DecodeCategorizationRequest
// takes for that engine. The error is a *ValidationError.
func (r *CategorizationRequest) Validate() error {
	v := violations{schema: categorizationSchema}
	if r.IsOtherEngine() {
		if r.Verbatim == nil {
			return nil
		}
		d, err := DecodeCategorizationRequest(r.Verbatim)
		if err != nil {
			return err
		}
		if d.Engine != r.Engine {
			v.add("$.engine", "Verbatim names another engine than Engine")
		}
		return v.err()
	}
	s := categorizationShape{
		engine:         stringKind(r.Engine, true),
		profile:        stringKind(r.Profile, true),
		countryCode:    stringKind(r.CountryCode, true),
		consentID:      stringKind(r.ConsentID, true),
		userID:         stringKind(r.UserID, true),
		externalUserID: stringKind(r.ExternalUserID, true),
		metaData:       rawKind(r.MetaData, true),
	}
	if len(r.AccountIDs) > 0 {
		s.accountIDs = kindArray
	}
	checkCategorization(&v, r, &s)
	return v.err()
}

func checkCategorization(v *violations, r *CategorizationRequest, s *categorizationShape) {
	// Each may be absent, and then defaults, but otherwise must hold the
	// one supported value.
	checkMember(v, "$.engine", s.engine, kindString, nullable, r.Engine == DefaultEngine, ruleEngine)
	checkMember(v, "$.profile", s.profile, kindString, nullable, r.Profile == DefaultProfile, ruleProfile)
	checkMember(v, "$.countryCode", s.countryCode, kindString, nullable, r.CountryCode == DefaultCountryCode, ruleCountryCode)

	subjects := 0
	for _, id := range [...]struct {
		path  string
		k     kind
		value string
	}{
		{"$.consentId", s.consentID, r.ConsentID},
		{"$.userId", s.userID, r.UserID},
		{"$.externalUserId", s.externalUserID, r.ExternalUserID},
	} {
		if checkMember(v, id.path, id.k, kindString, nullable, id.value != "", ruleNonEmpty) {
			subjects++
		}
	}
	if checkMember(v, "$.accountIds", s.accountIDs, kindArray, nullable, len(r.AccountIDs) > 0, ruleAccountIDs) {
		subjects++
		for i, id := range r.AccountIDs {
			if id == "" {
				v.add(indexPath("$.accountIds", i), ruleNonEmpty)
			}
		}
	}
	switch subjects {
	case 0:
		v.add("$", ruleNoSubject)
	case 1:
	default:
		v.add("$", ruleTwoSubjects)
	}

	switch s.metaData {
	case kindAbsent, kindNull:
	case kindInvalid:
		v.add("$.metaData", ruleNotJSON)
	default:
		if !isEmptyMetaData(r.MetaData) {
			v.add("$.metaData", ruleMetaData)
		}
	}
}

// isEmptyMetaData accepts the empty values of every JSON type that has one.
func isEmptyMetaData(raw []byte) bool {
	switch kindOf(raw) {
	case kindNull:
		return true
	case kindString:
		return isEmptyString(bytes.TrimSpace(raw))
	case kindObject:
		r, _ := readObject(raw)
		_, _, ok := r.next()
		return !ok && !r.malformed
	case kindArray:
		r, _ := readArray(raw)
		_, ok := r.next()
		return !ok && !r.malformed
	}
	return false
}
