package schemas

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
)

// The records the sinks forward must be I-JSON (RFC 7493): JSON that every
// parser reads alike. Plain JSON leaves four things to the parser, and the
// APIs behind the sinks may not resolve them as encoding/json does:
//   - invalid UTF-8, which encoding/json replaces with U+FFFD and others
//     reject or keep;
//   - a surrogate escape without its pair ("\ud800"), which is no character
//     at all, and again becomes U+FFFD here and an error or garbage there;
//   - a number beyond an IEEE 754 double (1e999), which becomes ±Inf, an
//     error or a big number depending on the parser (a number too small,
//     1e-400, only rounds to 0, and I-JSON allows it);
//   - a member name given twice, where parsers keep the first, the last or
//     neither. Names are compared as decoded: "a" and "\u0061" are one name.
// The four are checked in the pass that checks the syntax, which replaces
// json.Valid on the way in, so a valid record pays for no second pass and
// allocates nothing for it. RFC 7493 also bars noncharacters (U+FDD0 to
// U+FDEF, U+FFFE, U+FFFF and their like in every plane); they are valid
// UTF-8 that every parser reads alike, and Unicode allows them in
// interchange (Corrigendum #9), so they are let through.

// The rules of I-JSON, reported at the path of the offending string,
// number or member. Like every rule they never quote the value.
const (
	ruleUTF8          = "string must be valid UTF-8"
	ruleSurrogate     = "string must not hold an unpaired surrogate escape"
	ruleNameUTF8      = "member name must be valid UTF-8"
	ruleNameSurrogate = "member name must not hold an unpaired surrogate escape"
	ruleNumberRange   = "number must be within the range of an IEEE 754 double"
)

// decodeIJSONRoot is decodeRoot for the records the sinks forward: data must
// also be I-JSON. The I-JSON violations are added to v, each at its path
// below "$", and decoding goes on (true) so that one error lists every
// broken rule; false only when data is not a JSON object.
func decodeIJSONRoot(v *violations, data []byte) bool {
	before := len(v.list)
	if !checkIJSON(v, "$", data) {
		// Not JSON: what the scan found before it stopped reads as noise
		// next to the syntax error, which decodeRoot words.
		v.list = v.list[:before]
		return decodeRoot(v, data)
	}
	if kindOf(data) != kindObject {
		v.add("$", ruleNotObject)
		return false
	}
	return true
}

// checkRawIJSON applies I-JSON to a raw member of a value built in Go, which
// json.Marshal copies as it is (it only compacts it): its violations are
// reported below path. A raw member that is not JSON is left to the member's
// own check (ruleNotJSON).
func checkRawIJSON(v *violations, path string, raw []byte) {
	if len(raw) == 0 {
		return
	}
	before := len(v.list)
	if !checkIJSON(v, path, raw) {
		v.list = v.list[:before]
	}
}

// memberSetLinear is how many names an object may have before its names are
// looked up in a map rather than compared one by one: objects here are
// small, and a linear scan beats hashing until they are not.
const memberSetLinear = 16

// ijsonFrame is one container the scan is in.
type ijsonFrame struct {
	object bool
	// index is an array's current item.
	index int
	// key is an object's current member name, as written between the
	// quotes (data[key.start:key.end]).
	key nameRef
	// names is where the object's names start on the stack of names, until
	// it has more than memberSetLinear of them; set holds them from then on.
	names int
	set   map[string]struct{}
}

// nameRef locates a member name in the scanned data.
type nameRef struct {
	start, end int
	// escaped names (with escapes or invalid UTF-8) need decoding to be
	// compared; others compare as bytes.
	escaped bool
}

// checkIJSON reports whether data is one JSON value, exactly as json.Valid
// does (same grammar, same nesting limit), and adds to v a violation of
// I-JSON, at its path below base, for each string with invalid UTF-8 or an
// unpaired surrogate escape, each number out of the double's range and each
// member name already given in its object. On data that is not JSON the
// violations found before the error are meaningless; callers drop them.
//
// It allocates nothing on I-JSON of modest nesting: the containers open
// and the names of the open objects are stacks on the goroutine stack, and
// names are compared one by one, which beats hashing for objects of up to
// memberSetLinear members; a larger object moves its names to a map.
func checkIJSON(v *violations, base string, data []byte) bool {
	var frameSpace [32]ijsonFrame
	var nameSpace [64]nameRef
	frames, names := frameSpace[:0], nameSpace[:0]
	i := 0
	for {
		// A value starts at i.
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch c := data[i]; c {
		case '{', '[':
			if len(frames) >= maxJSONDepth {
				return false
			}
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == end {
				i++
				break
			}
			frames = append(frames, ijsonFrame{object: c == '{', names: len(names)})
			if c == '{' {
				if i, names = ijsonMember(v, base, data, i, frames, names); i < 0 {
					return false
				}
			}
			continue
		case '"':
			end, f := scanString(data, i)
			if end < 0 {
				return false
			}
			if f&(stringBadUTF8|stringLoneSurrogate) != 0 {
				addStringFlags(v, ijsonPath(base, data, frames), f, ruleUTF8, ruleSurrogate)
			}
			i = end
		case 't':
			i = validLiteral(data, i, "true")
		case 'f':
			i = validLiteral(data, i, "false")
		case 'n':
			i = validLiteral(data, i, "null")
		default:
			end, overflow := scanNumber(data, i)
			if end >= 0 && overflow {
				v.add(ijsonPath(base, data, frames), ruleNumberRange)
			}
			i = end
		}
		if i < 0 {
			return false
		}
		// A value ended at i: close containers until one goes on.
	closing:
		for {
			if len(frames) == 0 {
				return skipSpace(data, i) == len(data)
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return false
			}
			top := &frames[len(frames)-1]
			switch c := data[i]; {
			case c == ',':
				i++
				if !top.object {
					top.index++
					break closing
				}
				if i, names = ijsonMember(v, base, data, skipSpace(data, i), frames, names); i < 0 {
					return false
				}
				break closing
			case c == '}' && top.object, c == ']' && !top.object:
				names = names[:top.names]
				frames = frames[:len(frames)-1]
				i++
			default:
				return false
			}
		}
	}
}

// addStringFlags adds at p the violations of I-JSON that the flags of
// scanString report for a string: badUTF8 for invalid UTF-8, surrogate for
// an unpaired surrogate escape. Values and member names word them apart.
func addStringFlags(v *violations, p string, flags int, badUTF8, surrogate string) {
	if flags&stringBadUTF8 != 0 {
		v.add(p, badUTF8)
	}
	if flags&stringLoneSurrogate != 0 {
		v.add(p, surrogate)
	}
}

// ijsonMember checks `"name" :` at i, the next member of the object on top
// of frames, and returns the index past the colon (-1 if not JSON) and the
// stack of names with this one.
func ijsonMember(v *violations, base string, data []byte, i int, frames []ijsonFrame, names []nameRef) (int, []nameRef) {
	if i >= len(data) || data[i] != '"' {
		return -1, names
	}
	end, f := scanString(data, i)
	if end < 0 {
		return -1, names
	}
	colon := skipSpace(data, end)
	if colon >= len(data) || data[colon] != ':' {
		return -1, names
	}
	top := &frames[len(frames)-1]
	// A name with invalid UTF-8 compares as decoded too: each bad byte reads
	// as U+FFFD, so "\xff" and "\xfe" are one name, as encoding/json has it.
	name := nameRef{start: i + 1, end: end - 1, escaped: f&(stringEscaped|stringBadUTF8) != 0}
	top.key = name
	if f&(stringBadUTF8|stringLoneSurrogate) != 0 {
		addStringFlags(v, ijsonPath(base, data, frames), f, ruleNameUTF8, ruleNameSurrogate)
	}
	var dup bool
	if top.set != nil {
		dup = addName(top.set, data, name)
	} else {
		for _, n := range names[top.names:] {
			if sameName(data, n, name) {
				dup = true
				break
			}
		}
		names = append(names, name)
		if len(names)-top.names > memberSetLinear {
			top.set = make(map[string]struct{}, 2*memberSetLinear)
			for _, n := range names[top.names:] {
				addName(top.set, data, n)
			}
			names = names[:top.names]
		}
	}
	if dup {
		v.add(ijsonPath(base, data, frames), ruleDuplicate)
	}
	return colon + 1, names
}

// addName adds the decoded name n to set and reports whether it was there.
func addName(set map[string]struct{}, data []byte, n nameRef) bool {
	name := data[n.start:n.end]
	if n.escaped {
		name = memberName(name)
	}
	if _, ok := set[string(name)]; ok {
		return true
	}
	set[string(name)] = struct{}{}
	return false
}

// ijsonPath is the path of the value the scan is at, or of the member name
// it is at: both name the member. It is built only for a violation.
func ijsonPath(base string, data []byte, frames []ijsonFrame) string {
	p := base
	for _, f := range frames {
		if f.object {
			p = memberPath(p, string(memberName(data[f.key.start:f.key.end])))
		} else {
			p = indexPath(p, f.index)
		}
	}
	return p
}

// sameName reports whether two member names of data decode to the same
// string, without decoding either into memory.
func sameName(data []byte, a, b nameRef) bool {
	x, y := data[a.start:a.end], data[b.start:b.end]
	if !a.escaped && !b.escaped {
		return bytes.Equal(x, y)
	}
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		var r, s rune
		r, i = nameRune(x, i)
		s, j = nameRune(y, j)
		if r != s {
			return false
		}
	}
	return i == len(x) && j == len(y)
}

// nameRune decodes the character at s[i] of a string body that scanString
// accepted, as encoding/json does (so as memberName does): an unpaired
// surrogate escape and each byte of invalid UTF-8 read as U+FFFD. It
// returns the index past it.
func nameRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf && c != '\\' {
		return rune(c), i + 1
	}
	if c != '\\' {
		r, size := utf8.DecodeRune(s[i:])
		return r, i + size
	}
	switch s[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(s[i+2:])
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := lowSurrogate(s, i+6); ok {
				return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), i + 12
			}
			return utf8.RuneError, i + 6
		case r >= 0xDC00 && r < 0xE000:
			return utf8.RuneError, i + 6
		}
		return r, i + 6
	}
	return rune(s[i+1]), i + 2 // \" \\ \/
}

// String flags of scanString.
const (
	stringEscaped       = 1 << iota // holds a backslash
	stringBadUTF8                   // holds invalid UTF-8
	stringLoneSurrogate             // holds a surrogate escape without its pair
)

// asciiStringByte marks the ASCII bytes a string holds as they are: not the
// closing quote, not a backslash, not a control character. Bytes from 0x80
// start UTF-8 sequences, which scanString checks.
var asciiStringByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string that starts at data[i] == '"' as validString
// does, and says in flags what I-JSON finds wrong in it. It returns the index
// past the string, or -1.
func scanString(data []byte, i int) (end, flags int) {
	i++
	for {
		for i < len(data) && asciiStringByte[data[i]] {
			i++
		}
		if i >= len(data) {
			return -1, flags
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, flags
		case c == '\\':
			flags |= stringEscaped
			if i+1 >= len(data) {
				return -1, flags
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return -1, flags
				}
				r := hex4(data[i+2:])
				i += 6
				switch {
				case r >= 0xD800 && r < 0xDC00:
					if _, ok := lowSurrogate(data, i); ok {
						i += 6
					} else {
						// What follows, if an escape, is checked as
						// one of its own.
						flags |= stringLoneSurrogate
					}
				case r >= 0xDC00 && r < 0xE000:
					flags |= stringLoneSurrogate
				}
			default:
				return -1, flags
			}
		case c < 0x20:
			return -1, flags
		default:
			// utf8.DecodeRune also refuses surrogates encoded in UTF-8
			// and overlong forms, which are not UTF-8 either.
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				flags |= stringBadUTF8
			}
			i += size
		}
	}
}

// lowSurrogate reads a \uDC00-\uDFFF escape at s[i].
func lowSurrogate(s []byte, i int) (rune, bool) {
	if len(s)-i < 6 || s[i] != '\\' || s[i+1] != 'u' ||
		!isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) || !isHex(s[i+5]) {
		return 0, false
	}
	r := hex4(s[i+2:])
	return r, r >= 0xDC00 && r < 0xE000
}

// hex4 reads the four hex digits at the start of s, which the caller
// checked.
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// maxDoubleDigits is how many digits an integer can have and stay below
// 1e308, well within math.MaxFloat64 (1.79...e308).
const maxDoubleDigits = 308

// scanNumber checks a number at i as validNumber does, and reports whether
// it is beyond the range of a double, which it parses only when its digits
// and exponent say it might be: below 10^308 no rounding reaches infinity.
func scanNumber(data []byte, i int) (end int, overflow bool) {
	start := i
	if i < len(data) && data[i] == '-' {
		i++
	}
	// magnitude bounds the number: it is below 10^magnitude.
	magnitude := 0
	switch {
	case i >= len(data):
		return -1, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		j := digits(data, i+1)
		magnitude = j - i
		i = j
	default:
		return -1, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return -1, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		negative := false
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			negative = data[i] == '-'
			i++
		}
		j := digits(data, i)
		if j == i {
			return -1, false
		}
		// The exponent saturates: past a million digits, either way, the
		// verdict is the same.
		exp := 0
		for _, c := range data[i:j] {
			if exp < 1e6 {
				exp = exp*10 + int(c-'0')
			}
		}
		if negative {
			exp = -exp
		}
		magnitude += exp
		i = j
	}
	if magnitude <= maxDoubleDigits {
		return i, false
	}
	// Rare: the number is near the limit, or past it. A zero with any
	// exponent (0e999) parses to 0.
	f, _ := strconv.ParseFloat(string(data[start:i]), 64)
	return i, math.IsInf(f, 0)
}
