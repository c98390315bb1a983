package schemas

const streamPageSchema = "stream-page"

// DecodeStreamPage decodes one answer of "Get an update stream" as
// json.Unmarshal into a StreamPage would, but several times faster and
// without copying: each update's Entity.Data aliases data, which the caller
// must then leave unchanged. The update stream source reads pages of 4,000
// updates many times a second, and encoding/json was its bottleneck.
//
// It rejects, in one *ValidationError, only what makes the page unusable:
// invalid JSON, a root or an update that is not an object, updates that are
// not a list, and offsets that are not integers from 0. What an update says
// (its operation, entity type and data) is left as found for the caller to
// judge, so that one odd update does not block the stream; values of the
// wrong JSON type decode as empty. Unknown members are ignored, as the API
// may add some. Like encoding/json, the last of duplicate members wins, but
// names match exactly, not case-insensitively, and integral numbers such as
// 1e3 are read as integers, as JSON Schema reads them.
func DecodeStreamPage(data []byte) (*StreamPage, error) {
	v := violations{schema: streamPageSchema}
	page := &StreamPage{}
	end := -1
	if i := skipSpace(data, 0); i < len(data) && data[i] == '{' {
		end = walkObject(data, i, 0, func(name []byte, at int) int {
			switch string(name) {
			case "nextOffset":
				end := validValue(data, at, 1)
				if end >= 0 {
					page.NextOffset = offsetValue(&v, -1, data[at:end])
				}
				return end
			case "updates":
				var end int
				page.Updates, end = decodeStreamUpdates(&v, data, at, page.Updates[:0])
				return end
			}
			return validValue(data, at, 1)
		})
	}
	if end < 0 || skipSpace(data, end) != len(data) {
		// Not JSON or not an object: the check every decoder makes words
		// the error (and has the last word, though the two agree: fuzzed).
		v = violations{schema: streamPageSchema}
		if decodeRoot(&v, data) {
			v.add("$", ruleNotJSON)
		}
		return nil, v.err()
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return page, nil
}

// The page is checked and decoded in one pass, each value found where the
// previous one ended: the entity data, most of a page, is scanned once.

// walkObject checks the object at data[i] == '{', nested depth levels deep,
// calling member with each name and the index of its value; member checks
// the value and returns the index past it, or -1. walkObject returns the
// index past the object, or -1 if it is not valid JSON.
func walkObject(data []byte, i, depth int, member func(name []byte, at int) int) int {
	if depth >= maxJSONDepth {
		return -1
	}
	i = skipSpace(data, i+1) // past '{'
	if i < len(data) && data[i] == '}' {
		return i + 1
	}
	for done := false; ; {
		if i >= len(data) || data[i] != '"' {
			return -1
		}
		end := validString(data, i)
		if end < 0 {
			return -1
		}
		name := memberName(data[i+1 : end-1])
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return -1
		}
		if i = skipSpace(data, i+1); i >= len(data) {
			return -1
		}
		if i = member(name, i); i < 0 {
			return -1
		}
		if i, done = nextItem(data, i, '}'); done || i < 0 {
			return i
		}
	}
}

// walkArray is walkObject for the items of the array at data[i] == '['.
func walkArray(data []byte, i, depth int, item func(n, at int) int) int {
	if depth >= maxJSONDepth {
		return -1
	}
	i = skipSpace(data, i+1) // past '['
	if i < len(data) && data[i] == ']' {
		return i + 1
	}
	for n, done := 0, false; ; n++ {
		if i >= len(data) {
			return -1
		}
		if i = item(n, i); i < 0 {
			return -1
		}
		if i, done = nextItem(data, i, ']'); done || i < 0 {
			return i
		}
	}
}

// nextItem reads what follows a member of an object or an item of an array
// that end closes: end itself (done, and next is past it), or a comma and
// the white space after it (next is where the next one starts). next is -1
// after anything else.
func nextItem(data []byte, i int, end byte) (next int, done bool) {
	if i = skipSpace(data, i); i < len(data) {
		switch data[i] {
		case end:
			return i + 1, true
		case ',':
			return skipSpace(data, i+1), false
		}
	}
	return -1, false
}

// decodeStreamUpdates decodes the list at data[at] into dst and returns it
// with the index past the list, or -1.
func decodeStreamUpdates(v *violations, data []byte, at int, dst []StreamUpdate) ([]StreamUpdate, int) {
	if at >= len(data) || data[at] != '[' {
		end := validValue(data, at, 1)
		if end >= 0 && data[at] != 'n' {
			v.add("$.updates", "must be a list")
		}
		return dst, end
	}
	end := walkArray(data, at, 1, func(n, at int) int {
		if data[at] != '{' {
			v.add(indexPath("$.updates", n), ruleNotObject)
			return validValue(data, at, 2)
		}
		dst = append(dst, StreamUpdate{})
		u := &dst[len(dst)-1]
		return walkObject(data, at, 2, func(name []byte, at int) int {
			if string(name) == "entity" && data[at] == '{' {
				return decodeStreamEntity(data, at, u)
			}
			end := validValue(data, at, 3)
			if end < 0 {
				return -1
			}
			switch string(name) {
			case "offset":
				u.Offset = offsetValue(v, n, data[at:end])
				u.HasOffset = kindOf(data[at:end]) == kindNumber
			case "operation":
				u.Operation = stringValue(data[at:end], operationSet)
			}
			return end
		})
	})
	return dst, end
}

func decodeStreamEntity(data []byte, at int, u *StreamUpdate) int {
	return walkObject(data, at, 3, func(name []byte, at int) int {
		end := validValue(data, at, 4)
		if end < 0 {
			return -1
		}
		switch string(name) {
		case "type":
			u.Entity.Type = stringValue(data[at:end], entityTypeSet)
		case "data":
			u.Entity.Data = data[at:end:end]
		}
		return end
	})
}

// offsetValue reads an offset: an integer from 0, or null for none. update
// is the index of the update it belongs to, or -1 for the page's nextOffset.
func offsetValue(v *violations, update int, raw []byte) int64 {
	switch kindOf(raw) {
	case kindNull:
		return 0
	case kindNumber:
		if n := parseJSONInteger(raw); n.inRange {
			return n.value
		}
	}
	path := "$.nextOffset"
	if update >= 0 {
		path = indexPath("$.updates", update) + ".offset"
	}
	v.add(path, "must be an integer between 0 and 9223372036854775807")
	return 0
}

// stringValue decodes a string, sharing the set's copy for known values; a
// value that is not a string decodes as "".
func stringValue(raw []byte, known map[string]string) string {
	if kindOf(raw) != kindString {
		return ""
	}
	s, _ := enumString(raw, known)
	return s
}
