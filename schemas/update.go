package schemas

import (
	"bytes"
	"encoding/json"
	"time"
)

const updateEnvelopeSchema = "update-envelope"

// Operations and entity types of the Contacthub update stream.
const (
	OperationCreate = "CREATE"
	OperationUpdate = "UPDATE"
	OperationDelete = "DELETE"

	EntityCustomer = "CUSTOMER"
	EntityEvent    = "EVENT"
)

var (
	operationSet  = stringSet([]string{OperationCreate, OperationUpdate, OperationDelete})
	entityTypeSet = stringSet([]string{EntityCustomer, EntityEvent})
)

// minReadAtYear rejects a zero time.Time, which marshals as year 1: a
// producer that forgot to set ReadAt. Nothing was read from Contacthub
// before 1970.
const minReadAtYear = 1970

// StreamPage is one answer of "Get an update stream".
type StreamPage struct {
	NextOffset int64          `json:"nextOffset"`
	Updates    []StreamUpdate `json:"updates"`
}

// StreamUpdate is one change of a customer or an event.
type StreamUpdate struct {
	// Offset is the update's own offset, when the answer gives one
	// (HasOffset). The reference shows none: only the page's nextOffset.
	Offset int64 `json:"offset,omitempty"`
	// HasOffset says whether the answer gave the update an offset (a
	// number, not null or absent). DecodeStreamPage sets it;
	// encoding/json does not.
	HasOffset bool   `json:"-"`
	Operation string `json:"operation"` // CREATE, UPDATE, DELETE
	Entity    struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	} `json:"entity"` // type CUSTOMER or EVENT
}

// Where an envelope's Offset comes from (UpdateEnvelope.OffsetSource).
const (
	// OffsetSourceUpdate: Offset is the offset Contacthub gave the update.
	OffsetSourceUpdate = "update"
	// OffsetSourcePage: the answer gave the update no offset (the
	// reference shows none), and Offset is its position: the offset the
	// page was asked after, plus one, plus the update's index in the page
	// (for a page asked with no offset, counted back from its nextOffset).
	// It is unique and the same on every read of the page from that
	// offset; it equals Contacthub's offset when the stream is read
	// without filters and its offsets have no gaps.
	OffsetSourcePage = "page"
)

var offsetSourceSet = stringSet([]string{OffsetSourceUpdate, OffsetSourcePage})

// UpdateEnvelope is what the connector publishes to Kafka for each update it
// reads from the stream: the update plus where and when it was read.
type UpdateEnvelope struct {
	Operation  string `json:"operation"`  // CREATE | UPDATE | DELETE
	EntityType string `json:"entityType"` // CUSTOMER | EVENT
	// Offset places the update in the stream, uniquely: what consumers
	// de-duplicate by. OffsetSource says what it is.
	Offset int64 `json:"offset"`
	// OffsetSource is OffsetSourceUpdate or OffsetSourcePage; absent in
	// envelopes written before it existed, whose Offset was Contacthub's.
	OffsetSource string          `json:"offsetSource,omitempty"`
	Workspace    string          `json:"workspaceId"`
	NodeID       string          `json:"nodeId,omitempty"`
	Data         json.RawMessage `json:"data"`
	ReadAt       time.Time       `json:"readAt"`
}

// updateShape remembers the JSON the struct cannot: member kinds, an offset
// that is not an int64, and whether readAt parsed.
type updateShape struct {
	operation, entityType, offset, offsetSource, workspace, nodeID, data, readAt kind
	offsetNumber                                                                 jsonInteger
	// readAtYear is the year as written; 0 when readAt is not a date-time.
	readAtYear int
}

// DecodeUpdateEnvelope decodes and validates one envelope. The error is a
// *ValidationError.
func DecodeUpdateEnvelope(data []byte) (*UpdateEnvelope, error) {
	v := violations{schema: updateEnvelopeSchema}
	if !decodeRoot(&v, data) {
		return nil, v.err()
	}
	u := &UpdateEnvelope{}
	var s updateShape
	readMembers(&v, "$", data, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "operation":
			return seenEnum(&s.operation, &u.Operation, operationSet, val, k)
		case "entityType":
			return seenEnum(&s.entityType, &u.EntityType, entityTypeSet, val, k)
		case "offset":
			if k == kindNumber {
				s.offsetNumber = parseJSONInteger(val)
				u.Offset = s.offsetNumber.value
			}
			return seen(&s.offset, k)
		case "offsetSource":
			return seenEnum(&s.offsetSource, &u.OffsetSource, offsetSourceSet, val, k)
		case "workspaceId":
			return seenString(&s.workspace, &u.Workspace, val, k)
		case "nodeId":
			return seenString(&s.nodeID, &u.NodeID, val, k)
		case "data":
			u.Data = json.RawMessage(val)
			return seen(&s.data, k)
		case "readAt":
			if k == kindString {
				if t, ok := parseDateTime(decodeString(val)); ok {
					u.ReadAt, s.readAtYear = t.time(), t.year
				}
			}
			return seen(&s.readAt, k)
		}
		return memberUnknown
	})
	checkUpdateEnvelope(&v, u, &s)
	if err := v.err(); err != nil {
		return nil, err
	}
	u.Data = bytes.Clone(u.Data)
	return u, nil
}

// Validate reports whether the JSON that json.Marshal makes of u is a valid
// envelope. The error is a *ValidationError.
func (u *UpdateEnvelope) Validate() error {
	v := violations{schema: updateEnvelopeSchema}
	s := updateShape{
		operation:    kindString,
		entityType:   kindString,
		offset:       kindNumber,
		offsetNumber: jsonInteger{value: u.Offset, integral: true, inRange: u.Offset >= 0},
		offsetSource: stringKind(u.OffsetSource, true),
		workspace:    kindString,
		nodeID:       stringKind(u.NodeID, true),
		data:         rawKind(u.Data, false),
		readAt:       kindString,
	}
	// Read the year back from what json.Marshal writes: it is the year in
	// ReadAt's own zone, and MarshalJSON refuses years past 9999.
	if b, err := u.ReadAt.MarshalJSON(); err == nil {
		if t, ok := parseDateTime(string(bytes.Trim(b, `"`))); ok {
			s.readAtYear = t.year
		}
	}
	checkUpdateEnvelope(&v, u, &s)
	return v.err()
}

func checkUpdateEnvelope(v *violations, u *UpdateEnvelope, s *updateShape) {
	checkEnum(v, "$.operation", s.operation, u.Operation, operationSet, "must be CREATE, UPDATE or DELETE")
	checkEnum(v, "$.entityType", s.entityType, u.EntityType, entityTypeSet, "must be CUSTOMER or EVENT")

	const ruleOffset = "must be an integer between 0 and 9223372036854775807"
	checkMember(v, "$.offset", s.offset, kindNumber, required, s.offsetNumber.inRange, ruleOffset)
	_, knownSource := offsetSourceSet[u.OffsetSource]
	checkMember(v, "$.offsetSource", s.offsetSource, kindString, optional, knownSource, "must be update or page")
	checkMember(v, "$.workspaceId", s.workspace, kindString, required, u.Workspace != "", ruleNonEmpty)
	checkMember(v, "$.nodeId", s.nodeID, kindString, optional, u.NodeID != "", ruleNonEmpty)
	if checkMember(v, "$.data", s.data, kindObject, required, true, ruleNotObject) {
		checkUpdateData(v, u, s.entityType)
	}

	switch s.readAt {
	case kindAbsent:
		v.add("$.readAt", ruleRequired)
	default:
		if s.readAtYear < minReadAtYear {
			v.add("$.readAt", "must be an RFC 3339 date-time from 1970 on")
		}
	}
}

// checkUpdateData checks what EntityKey reads, and nothing else: the entity
// itself is Contacthub's, passed through as it came.
func checkUpdateData(v *violations, u *UpdateEnvelope, entityType kind) {
	if entityType != kindString {
		return
	}
	switch u.EntityType {
	case EntityCustomer:
		k, dup := entityMember(u.Data, "id")
		if dup {
			v.add("$.data.id", ruleDuplicate)
		}
		switch k {
		case kindAbsent:
			v.add("$.data.id", "is required: it keys the customer's records")
		case kindString:
			if key, _ := entityKey(u.Data, "id"); key == "" {
				v.add("$.data.id", ruleNonEmpty)
			}
		default:
			v.add("$.data.id", ruleNonEmpty)
		}
	case EntityEvent:
		k, dup := entityMember(u.Data, "customerId")
		if dup {
			v.add("$.data.customerId", ruleDuplicate)
		}
		if k != kindAbsent && k != kindNull && k != kindString {
			v.add("$.data.customerId", "must be a string or null")
		}
	}
}

// entityMember reports the kind of a top-level member of data and whether it
// appears more than once.
func entityMember(data []byte, member string) (k kind, dup bool) {
	r, _ := readObject(data)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		if string(memberName(key)) != member {
			continue
		}
		if k != kindAbsent {
			dup = true
		}
		k = kindOf(val)
	}
	return k, dup
}

func entityKey(data []byte, member string) (string, bool) {
	r, ok := readObject(data)
	if !ok {
		return "", false
	}
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		if string(memberName(key)) == member {
			if kindOf(val) != kindString {
				return "", false
			}
			return decodeString(val), true
		}
	}
	return "", false
}

// EntityKey is the Kafka key for the envelope: data.id for a CUSTOMER,
// data.customerId for an EVENT, so that every record about one customer lands
// in one partition, in order. It is "" for an event of an anonymous customer
// (no customerId), and for data that is not an object; such records go
// unkeyed.
func (u *UpdateEnvelope) EntityKey() string {
	var member string
	switch u.EntityType {
	case EntityCustomer:
		member = "id"
	case EntityEvent:
		member = "customerId"
	default:
		return ""
	}
	key, _ := entityKey(u.Data, member)
	return key
}
