package enablenow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The request rules, written here from the reference ("Creating jobs") and
// nowhere else: the stand-in is a witness of the reference and never calls
// the connector's decoders, so a rule the connector misreads is refused
// here instead of agreed with. Where the reference is silent the reading is
// named on the rule.

// EngineE1 is the engine the reference documents, and the only one whose
// fields it gives.
const EngineE1 = "e1"

// Request is a categorization request as the stand-in read it. For engine
// e1 the defaults are applied (engine e1, profile retail, countryCode nl)
// and Body is nil; for another engine only Engine is read and Body is the
// request as received, since the reference documents none of its fields.
type Request struct {
	Engine         string
	Profile        string
	CountryCode    string
	ConsentID      string
	UserID         string
	ExternalUserID string
	AccountIDs     []string
	MetaData       json.RawMessage
	Body           json.RawMessage
}

// e1Members are the members of an e1 request, in the reference's order.
var e1Members = []string{"engine", "profile", "countryCode", "consentId", "userId", "externalUserId", "accountIds", "metaData"}

// subjectMembers name whom to categorize: "a few different ways", of which
// the stand-in reads that exactly one is given (two would be ambiguous,
// none is nothing to categorize).
var subjectMembers = []string{"consentId", "userId", "externalUserId", "accountIds"}

// readRequest applies the rules to a creation body. engines, when not
// empty, are the only engines served (the reference says e1 is the primary
// engine of the V2 endpoint, not the only one, so by default any engine is
// taken and forwarded as is). It returns every broken rule at once.
func readRequest(body []byte, engines []string) (Request, []fieldError) {
	members, problem := topMembers(body)
	if problem != nil {
		return Request{}, []fieldError{*problem}
	}
	var errs []fieldError
	broken := func(path, msg string) { errs = append(errs, fieldError{Path: path, Message: msg}) }

	// engine: absent or null reads as e1, the engine every example sends
	// and the reference recommends.
	req := Request{Engine: EngineE1}
	if raw, ok := members["engine"]; ok && !isNull(raw) {
		if s, ok := nonEmptyString(raw); ok {
			req.Engine = s
		} else {
			broken("$.engine", "engine must be a non-empty string")
			return Request{}, errs
		}
	}
	if len(engines) > 0 && !slices.Contains(engines, req.Engine) {
		broken("$.engine", fmt.Sprintf("engine %q is not served here (served: %s)", req.Engine, strings.Join(engines, ", ")))
		return Request{}, errs
	}
	if req.Engine != EngineE1 {
		req.Body = bytes.Clone(body)
		return req, nil
	}

	for name := range members {
		if !slices.Contains(e1Members, name) {
			broken("$."+name, "is not a known field of an e1 request")
		}
	}
	// "For e1, the only supported profile is retail." The reference gives
	// no default for profile; absent reads as retail, the only value.
	req.Profile = "retail"
	if raw, ok := members["profile"]; ok && !isNull(raw) {
		if s, _ := stringValue(raw); s != "retail" {
			broken("$.profile", "for engine e1 the only profile is retail")
		}
	}
	// "countryCode currently supports nl. If you omit countryCode, it
	// defaults to nl."
	req.CountryCode = "nl"
	if raw, ok := members["countryCode"]; ok && !isNull(raw) {
		if s, _ := stringValue(raw); s != "nl" {
			broken("$.countryCode", "for engine e1 the only countryCode is nl")
		}
	}
	// "metaData must be empty": every empty JSON value is read as empty.
	if raw, ok := members["metaData"]; ok {
		if !isEmptyJSON(raw) {
			broken("$.metaData", "for engine e1 metaData must be empty")
		} else if !isNull(raw) {
			req.MetaData = bytes.Clone(raw)
		}
	}
	var given []string
	for _, name := range subjectMembers {
		raw, ok := members[name]
		if !ok || isNull(raw) {
			continue
		}
		given = append(given, name)
		if name == "accountIds" {
			ids, ok := accountIDs(raw)
			if !ok {
				broken("$.accountIds", "must be an array of one or more non-empty strings")
			}
			req.AccountIDs = ids
			continue
		}
		s, ok := nonEmptyString(raw)
		if !ok {
			broken("$."+name, "must be a non-empty string")
		}
		switch name {
		case "consentId":
			req.ConsentID = s
		case "userId":
			req.UserID = s
		case "externalUserId":
			req.ExternalUserID = s
		}
	}
	switch len(given) {
	case 0:
		broken("$", "name whom to categorize with one of consentId, userId, externalUserId or accountIds")
	case 1:
	default:
		broken("$", fmt.Sprintf("name whom to categorize one way only, not with %s", strings.Join(given, " and ")))
	}
	if errs != nil {
		slices.SortFunc(errs, func(a, b fieldError) int { return strings.Compare(a.Path, b.Path) })
		return Request{}, errs
	}
	return req, nil
}

// topMembers reads the members of the body's object, refusing a body that
// is not one JSON object, and a member name given twice: which of the two a
// parser keeps is not said anywhere, so such a request means nothing sure.
func topMembers(body []byte) (map[string]json.RawMessage, *fieldError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, &fieldError{Path: "$", Message: "the body is not JSON: " + syntaxMessage(err)}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, &fieldError{Path: "$", Message: "the body must be a JSON object"}
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &fieldError{Path: "$", Message: "the body is not JSON: " + syntaxMessage(err)}
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, &fieldError{Path: "$", Message: "the body is not JSON: " + syntaxMessage(err)}
		}
		if _, dup := members[name]; dup {
			return nil, &fieldError{Path: "$." + name, Message: "member name given twice"}
		}
		members[name] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, &fieldError{Path: "$", Message: "the body is not JSON: " + syntaxMessage(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &fieldError{Path: "$", Message: "the body holds more than one JSON value"}
	}
	return members, nil
}

func syntaxMessage(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func stringValue(raw json.RawMessage) (string, bool) {
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

func nonEmptyString(raw json.RawMessage) (string, bool) {
	s, ok := stringValue(raw)
	return s, ok && s != ""
}

func accountIDs(raw json.RawMessage) ([]string, bool) {
	var ids []string
	if json.Unmarshal(raw, &ids) != nil || len(ids) == 0 || slices.Contains(ids, "") {
		return nil, false
	}
	return ids, true
}

// isEmptyJSON reads null, {}, [] and "" as empty; the reference does not
// say which empty value it means.
func isEmptyJSON(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}
