package schemas

import (
	"bytes"
	"encoding/json"
)

const categorizationSchema = "categorization-request"

// The only engine, profile and country EnableNow supports for
// POST /v2/categorization-jobs today; absent members default to them.
const (
	DefaultEngine      = "e1"
	DefaultProfile     = "retail"
	DefaultCountryCode = "nl"
)

const (
	ruleEngine      = "engine must be e1"
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
type CategorizationRequest struct {
	Engine         string          `json:"engine,omitempty"`
	Profile        string          `json:"profile,omitempty"`
	CountryCode    string          `json:"countryCode,omitempty"`
	ConsentID      string          `json:"consentId,omitempty"`
	UserID         string          `json:"userId,omitempty"`
	ExternalUserID string          `json:"externalUserId,omitempty"`
	AccountIDs     []string        `json:"accountIds,omitempty"`
	MetaData       json.RawMessage `json:"metaData,omitempty"`
}

// categorizationShape remembers the JSON types the struct cannot. Null reads
// as absent for every member: producers that write every field, null or not,
// are common and mean nothing by it.
type categorizationShape struct {
	engine, profile, countryCode, consentID, userID, externalUserID, accountIDs, metaData kind
}

// DecodeCategorizationRequest decodes and validates one request, then fills
// in the defaults EnableNow applies (engine e1, profile retail, countryCode
// nl), so what is sent says what is meant. The error is a *ValidationError.
func DecodeCategorizationRequest(data []byte) (*CategorizationRequest, error) {
	v := violations{schema: categorizationSchema}
	if !decodeRoot(&v, data) {
		return nil, v.err()
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
// omits them and EnableNow applies the defaults. The error is a
// *ValidationError.
func (r *CategorizationRequest) Validate() error {
	v := violations{schema: categorizationSchema}
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
