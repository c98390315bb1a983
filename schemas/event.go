package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

const eventSchema = "event"

// MaxEventBytes is the Contacthub limit on an event ("Event's payload must not
// exceed 64kB"). A body longer than this is a violation at "$".
const MaxEventBytes = 64 * 1024

// EventTypes are the EventType values of Contacthub API 1.299.1, in the order
// of the reference.
var EventTypes = []string{
	"abandonedCart", "abandonedSession", "addedCompare", "addedProduct", "addedReward",
	"addedWishlist", "campaignBlacklisted", "campaignBounced", "campaignLinkClicked",
	"campaignMarkedSpam", "campaignOpened", "campaignOptinRequested", "campaignSent",
	"campaignSubscribed", "campaignUnsubscribed", "changedSetting", "clickedLink",
	"closedTicket", "completedOrder", "eventConfirmed", "eventDeclined", "eventEligible",
	"eventInvited", "eventNoShow", "eventNotInvited", "eventParticipated", "eventRegistered",
	"formCompiled", "genericActiveEvent", "genericPassiveEvent", "grantedCoupon", "loggedIn",
	"loggedOut", "openedTicket", "orderShipped", "removedCompare", "removedProduct",
	"removedReward", "removedWishlist", "repliedTicket", "reviewedProduct", "searched",
	"serviceSubscribed", "serviceUnsubscribed", "surveyCompiled", "viewedPage",
	"viewedProduct", "viewedProductCategory",
}

// EventContexts are the EventContext values of Contacthub API 1.299.1.
var EventContexts = []string{
	"WEB", "MOBILE", "ECOMMERCE", "RETAIL", "SOCIAL", "DIGITAL_CAMPAIGN", "CONTACT_CENTER", "IOT", "OTHER",
}

// bringBackTypes are the kinds of anonymous identity Contacthub can later
// reconcile with a customer.
var bringBackTypes = []string{"SESSION_ID", "EXTERNAL_ID"}

// The sets are built from copies: EventTypes is an exported slice, and a
// caller writing into it must not change what validates.
var (
	eventTypeSet     = stringSet(EventTypes)
	eventContextSet  = stringSet(EventContexts)
	bringBackTypeSet = stringSet(bringBackTypes)
)

// utmFields are the Google Analytics campaign fields of tracking.ga, with
// their paths built once rather than per event.
var utmFields = [...]struct{ name, path string }{
	{"utm_source", "$.tracking.ga.utm_source"},
	{"utm_medium", "$.tracking.ga.utm_medium"},
	{"utm_term", "$.tracking.ga.utm_term"},
	{"utm_content", "$.tracking.ga.utm_content"},
	{"utm_campaign", "$.tracking.ga.utm_campaign"},
}

var (
	ruleEventType      = "must be one of the " + strconv.Itoa(len(EventTypes)) + " EventType values"
	ruleEventContext   = "must be one of the " + strconv.Itoa(len(EventContexts)) + " EventContext values"
	ruleEventTooLarge  = "payload must not exceed " + strconv.Itoa(MaxEventBytes) + " bytes"
	ruleUUIDOrNull     = "must be a uuid string or null"
	ruleNoIdentity     = "one of customerId and bringBackProperties is required"
	ruleBothIdentities = "customerId and bringBackProperties are mutually exclusive"
)

// BringBackProperties name an anonymous visitor (a session or an external
// id) in a node, for Contacthub to attach the event to a customer later.
type BringBackProperties struct {
	Type   string `json:"type"`
	Value  string `json:"value"`
	NodeID string `json:"nodeId"`
}

// Event is a Contacthub event: the value of the upstream events topic and the
// body of POST /workspaces/{workspaceId}/events.
type Event struct {
	CustomerID          string               `json:"customerId,omitempty"`
	BringBackProperties *BringBackProperties `json:"bringBackProperties,omitempty"`
	Type                string               `json:"type"`
	Context             string               `json:"context"`
	Properties          json.RawMessage      `json:"properties"`
	ContextInfo         json.RawMessage      `json:"contextInfo,omitempty"`
	Date                string               `json:"date,omitempty"`
	Tracking            json.RawMessage      `json:"tracking,omitempty"`
}

// eventShape is what the struct cannot remember about the JSON: which members
// were there, and with which JSON type. A present "customerId": "" and an
// absent one are both CustomerID == "", yet only the first breaks a rule.
type eventShape struct {
	customerID, bringBack, typ, context, properties, contextInfo, date, tracking kind
	bringBackShape                                                               bringBackShape
}

type bringBackShape struct {
	typ, value, nodeID kind
}

// DecodeEvent decodes and validates one event. The error is a
// *ValidationError listing every broken rule; the event is nil then.
// Null customerId, bringBackProperties, contextInfo and tracking read as
// absent. The event must be I-JSON (RFC 7493) all the way down, duplicate
// member names included: Contacthub and this package could otherwise read
// different values from the same bytes.
func DecodeEvent(data []byte) (*Event, error) {
	return decodeEvent(data, MaxEventBytes, true)
}

// decodeEvent is DecodeEvent with the size rule at maxBytes (0: none).
// Unless keep, the event is only checked: its raw members alias data
// instead of a copy, and the caller must drop it before data changes.
func decodeEvent(data []byte, maxBytes int, keep bool) (*Event, error) {
	v := violations{schema: eventSchema}
	if maxBytes > 0 && len(data) > maxBytes {
		v.add("$", ruleEventTooLarge)
	}
	if !decodeIJSONRoot(&v, data) {
		return nil, v.err()
	}
	// One copy for every raw member: the caller may reuse data (a pooled
	// fetch buffer), and one allocation is cheaper than three. None when
	// the event is only checked, as for every event sent (CreateEventBody).
	buf := data
	if keep {
		buf = bytes.Clone(data)
	}
	e := &Event{}
	var s eventShape
	readMembers(&v, "$", buf, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "customerId":
			return seenString(&s.customerID, &e.CustomerID, val, k)
		case "bringBackProperties":
			if k == kindObject {
				e.BringBackProperties, s.bringBackShape = decodeBringBack(&v, val)
			}
			return seen(&s.bringBack, k)
		case "type":
			return seenEnum(&s.typ, &e.Type, eventTypeSet, val, k)
		case "context":
			return seenEnum(&s.context, &e.Context, eventContextSet, val, k)
		case "properties":
			e.Properties = capped(val)
			return seen(&s.properties, k)
		case "contextInfo":
			if k != kindNull {
				e.ContextInfo = capped(val)
			}
			return seen(&s.contextInfo, k)
		case "date":
			return seenString(&s.date, &e.Date, val, k)
		case "tracking":
			if k != kindNull {
				e.Tracking = capped(val)
			}
			return seen(&s.tracking, k)
		}
		return memberUnknown
	})
	checkEvent(&v, e, &s)
	if err := v.err(); err != nil {
		return nil, err
	}
	return e, nil
}

// ErrEventTooLarge is wrapped by CreateEventBody's error when the body it
// makes is over the size limit: the record can never be sent.
var ErrEventTooLarge = errors.New("event payload over the size limit")

// CreateEventBody checks data as an upstream event (every rule of the event
// schema but its size) and returns the body of Create event made of it, as
// the reference documents that body. The reference types customerId as a
// uuid string and contextInfo as an object, neither "or null", and shows no
// null under tracking; this schema reads a null member as absent. So the
// body is data without its null members, at the top level and anywhere
// under tracking, which means the same; every other byte is data's as it
// came, and data itself when there is nothing to drop. The size limit
// ("must not exceed 64kB", maxBytes) applies to that body, as sent: over
// it, the error wraps ErrEventTooLarge. Other errors are a
// *ValidationError.
func CreateEventBody(data []byte, maxBytes int) ([]byte, error) {
	if _, err := decodeEvent(data, 0, false); err != nil {
		return nil, err
	}
	body, _ := withoutNulls(data, func(name []byte) bool { return string(name) == "tracking" })
	if len(body) > maxBytes {
		return nil, fmt.Errorf("%s: the body as sent is %d bytes, over the limit of %d: %w", eventSchema, len(body), maxBytes, ErrEventTooLarge)
	}
	return body, nil
}

// withoutNulls returns the object raw without its members whose value is
// null, and, for the members recurse names, their objects likewise all the
// way down; raw itself, and false, when nothing is dropped.
func withoutNulls(raw []byte, recurse func(name []byte) bool) ([]byte, bool) {
	// Most bodies have no null to drop: find out without allocating.
	if !hasNulls(raw, recurse) {
		return raw, false
	}
	r, ok := readObject(raw)
	if !ok {
		return raw, false
	}
	type member struct{ key, val []byte }
	var kept []member
	changed := false
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		switch kindOf(val) {
		case kindNull:
			changed = true
			continue
		case kindObject:
			if recurse(memberName(key)) {
				if nv, c := withoutNulls(val, allMembers); c {
					val, changed = nv, true
				}
			}
		}
		kept = append(kept, member{key, val})
	}
	if !changed {
		return raw, false
	}
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	for i, m := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		// The key as written, escapes and all.
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"', ':')
		out = append(out, m.val...)
	}
	return append(out, '}'), true
}

// hasNulls reports whether withoutNulls would drop anything from raw.
func hasNulls(raw []byte, recurse func(name []byte) bool) bool {
	r, ok := readObject(raw)
	if !ok {
		return false
	}
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		switch kindOf(val) {
		case kindNull:
			return true
		case kindObject:
			if recurse(memberName(key)) && hasNulls(val, allMembers) {
				return true
			}
		}
	}
	return false
}

func allMembers([]byte) bool { return true }

// capped slices a raw member out of the shared copy with no spare capacity,
// so an append by the caller reallocates instead of overwriting the member
// that follows it.
func capped(val []byte) json.RawMessage {
	return json.RawMessage(val[:len(val):len(val)])
}

func decodeBringBack(v *violations, raw []byte) (*BringBackProperties, bringBackShape) {
	b := &BringBackProperties{}
	var s bringBackShape
	readMembers(v, "$.bringBackProperties", raw, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "type":
			return seenEnum(&s.typ, &b.Type, bringBackTypeSet, val, k)
		case "value":
			return seenString(&s.value, &b.Value, val, k)
		case "nodeId":
			return seenString(&s.nodeID, &b.NodeID, val, k)
		}
		return memberUnknown
	})
	return b, s
}

// Validate reports whether the JSON that json.Marshal makes of e is a valid
// event, so an event that passes can be posted as marshaled. The error is a
// *ValidationError.
func (e *Event) Validate() error {
	v := violations{schema: eventSchema}
	s := eventShape{
		customerID:  stringKind(e.CustomerID, true),
		typ:         kindString,
		context:     kindString,
		properties:  rawKind(e.Properties, false),
		contextInfo: rawKind(e.ContextInfo, true),
		date:        stringKind(e.Date, true),
		tracking:    rawKind(e.Tracking, true),
	}
	if e.BringBackProperties != nil {
		s.bringBack = kindObject
		s.bringBackShape = bringBackShape{typ: kindString, value: kindString, nodeID: kindString}
	}
	checkEvent(&v, e, &s)
	// json.Marshal copies the raw members as they are: they must be I-JSON
	// as a decoded event's are.
	checkRawIJSON(&v, "$.properties", e.Properties)
	checkRawIJSON(&v, "$.contextInfo", e.ContextInfo)
	checkRawIJSON(&v, "$.tracking", e.Tracking)
	if e.encodedSizeBound() > MaxEventBytes {
		// Only events near the limit pay for marshaling; the bound spares
		// everything else. A marshal error is a raw member that is not
		// JSON, already reported.
		if b, err := json.Marshal(e); err == nil && len(b) > MaxEventBytes {
			v.add("$", ruleEventTooLarge)
		}
	}
	return v.err()
}

// encodedSizeBound is at least len(json.Marshal(e)): no byte of a string or
// raw member becomes more than six ("<" is written \u003c).
func (e *Event) encodedSizeBound() int {
	n := len(e.CustomerID) + len(e.Type) + len(e.Context) + len(e.Properties) +
		len(e.ContextInfo) + len(e.Date) + len(e.Tracking)
	if b := e.BringBackProperties; b != nil {
		n += len(b.Type) + len(b.Value) + len(b.NodeID)
	}
	const members = 256 // names, quotes, colons and commas of every member
	return 6*n + members
}

// checkEvent holds every rule of the event schema; decoding and Validate
// differ only in how they fill the shape.
func checkEvent(v *violations, e *Event, s *eventShape) {
	checkMember(v, "$.customerId", s.customerID, kindString, nullable, isUUID(e.CustomerID), ruleUUIDOrNull)
	if checkMember(v, "$.bringBackProperties", s.bringBack, kindObject, nullable, true, "must be an object or null") {
		checkBringBack(v, e.BringBackProperties, &s.bringBackShape)
	}

	// The schema's oneOf counts a member only when its type is right; a
	// wrongly typed one is reported above and does not count here.
	switch n := b2i(s.customerID == kindString) + b2i(s.bringBack == kindObject); n {
	case 0:
		v.add("$", ruleNoIdentity)
	case 2:
		v.add("$", ruleBothIdentities)
	}

	checkEnum(v, "$.type", s.typ, e.Type, eventTypeSet, ruleEventType)
	checkEnum(v, "$.context", s.context, e.Context, eventContextSet, ruleEventContext)
	checkMember(v, "$.properties", s.properties, kindObject, required, true, ruleNotObject)
	checkMember(v, "$.contextInfo", s.contextInfo, kindObject, nullable, true, ruleObjectOrNull)
	_, isDate := parseDateTime(e.Date)
	checkMember(v, "$.date", s.date, kindString, optional, isDate, ruleDateTime)
	if checkMember(v, "$.tracking", s.tracking, kindObject, nullable, true, ruleObjectOrNull) {
		checkTracking(v, e.Tracking)
	}
}

const (
	ruleDateTime     = "must be an RFC 3339 date-time string"
	ruleObjectOrNull = "must be a JSON object or null"
)

func checkBringBack(v *violations, b *BringBackProperties, s *bringBackShape) {
	checkEnum(v, "$.bringBackProperties.type", s.typ, b.Type, bringBackTypeSet, "must be SESSION_ID or EXTERNAL_ID")
	checkMember(v, "$.bringBackProperties.value", s.value, kindString, required, b.Value != "", ruleNonEmpty)
	checkMember(v, "$.bringBackProperties.nodeId", s.nodeID, kindString, required, isUUID(b.NodeID), "must be a uuid string")
}

// checkTracking looks only at the members it knows: tracking is kept raw, so
// members added by Contacthub later pass through instead of being lost.
// Nulls are accepted below tracking as they are for tracking itself, since
// the reference does not say either way and Contacthub has the last word.
func checkTracking(v *violations, raw []byte) {
	var seenGA bool
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		if string(memberName(key)) != "ga" {
			continue
		}
		if seenGA {
			v.add("$.tracking.ga", ruleDuplicate)
		}
		seenGA = true
		switch kindOf(val) {
		case kindNull:
		case kindObject:
			checkGA(v, val)
		default:
			v.add("$.tracking.ga", ruleObjectOrNull)
		}
	}
}

func checkGA(v *violations, raw []byte) {
	var seen [len(utmFields)]bool
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		for i, f := range utmFields {
			if string(name) != f.name {
				continue
			}
			if seen[i] {
				v.add(f.path, ruleDuplicate)
			}
			seen[i] = true
			if k := kindOf(val); k != kindString && k != kindNull {
				v.add(f.path, "must be a string or null")
			}
		}
	}
}

// checkEnum applies a required string member with a closed set of values.
func checkEnum(v *violations, path string, k kind, value string, set map[string]string, rule string) {
	_, known := set[value]
	checkMember(v, path, k, kindString, required, known, rule)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
