package schemas

import (
	"math"
	"time"
)

// The format checks are written out rather than left to time.Parse or a
// regexp because they must accept exactly what the JSON Schema files accept:
// a "pattern" for the syntax and a "format" for the ranges, as
// santhosh-tekuri/jsonschema asserts them. time.Parse, for one, rejects the
// lowercase "t" and "z" that RFC 3339 allows.

// isUUID accepts the 8-4-4-4-12 hex form in either case, as "format": "uuid"
// and the pattern in the schemas do; it does not look at version bits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// dateTime is an RFC 3339 date-time split into its fields.
type dateTime struct {
	year, month, day     int
	hour, minute, second int
	nanosecond           int
	// offset is the zone offset in seconds east of UTC.
	offset int
}

// parseDateTime accepts RFC 3339 date-time
// (YYYY-MM-DD[Tt]hh:mm:ss[.frac]([Zz]|[+-]hh:mm)) with every field in range.
// Leap seconds (ss = 60) are refused: time.Time cannot hold them and no
// system feeding this connector produces them.
func parseDateTime(s string) (dateTime, bool) {
	var t dateTime
	if len(s) < 20 {
		return t, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if !isDigit(c) {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return t, false
	}
	t.year, t.month, t.day = num(0, 4), num(5, 2), num(8, 2)
	t.hour, t.minute, t.second = num(11, 2), num(14, 2), num(17, 2)
	if t.year < 0 || t.month < 1 || t.month > 12 || t.day < 1 || t.day > daysIn(t.month, t.year) ||
		t.hour < 0 || t.hour > 23 || t.minute < 0 || t.minute > 59 || t.second < 0 || t.second > 59 {
		return t, false
	}
	rest := s[19:]
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			// Digits past nanoseconds are valid RFC 3339 but below what
			// time.Time holds; they are dropped, not rounded.
			if n <= 9 {
				t.nanosecond = t.nanosecond*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return t, false
		}
		for k := n; k <= 9; k++ {
			t.nanosecond *= 10
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, m := num(len(s)-5, 2), num(len(s)-2, 2)
		if h < 0 || h > 23 || m < 0 || m > 59 {
			return t, false
		}
		t.offset = h*3600 + m*60
		if rest[0] == '-' {
			t.offset = -t.offset
		}
	default:
		return t, false
	}
	return t, true
}

// time turns the fields into a time.Time in a zone with the written offset,
// so that it marshals back to the same wall clock and date.
func (t dateTime) time() time.Time {
	loc := time.UTC
	if t.offset != 0 {
		loc = time.FixedZone("", t.offset)
	}
	return time.Date(t.year, time.Month(t.month), t.day, t.hour, t.minute, t.second, t.nanosecond, loc)
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// jsonInteger is what JSON Schema's "type": "integer" with minimum 0 and
// maximum MaxInt64 makes of a JSON number.
type jsonInteger struct {
	value    int64
	integral bool // the number has no fractional part: 1, 1.0, 1e3, 10e-1
	inRange  bool // integral and within [0, MaxInt64]
}

// parseJSONInteger reads a JSON number exactly. strconv would refuse "1e3"
// and "1.0", which JSON Schema counts as integers, and going through float64
// would round 2^63+1 into range. Exponents are only compared, never
// expanded, so "1e999999999" costs nothing.
func parseJSONInteger(raw []byte) jsonInteger {
	var r jsonInteger
	i := 0
	neg := false
	if i < len(raw) && raw[i] == '-' {
		neg = true
		i++
	}
	// digits holds the significant digits of integer and fraction parts.
	var digits []byte
	var buf [32]byte
	digits = buf[:0]
	fracLen := 0
	for ; i < len(raw) && isDigit(raw[i]); i++ {
		digits = append(digits, raw[i])
	}
	if i < len(raw) && raw[i] == '.' {
		for i++; i < len(raw) && isDigit(raw[i]); i++ {
			digits = append(digits, raw[i])
			fracLen++
		}
	}
	exp := 0
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		expNeg := false
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			expNeg = raw[i] == '-'
			i++
		}
		for ; i < len(raw) && isDigit(raw[i]); i++ {
			// Saturate: beyond a billion the answer no longer changes
			// for inputs that fit in memory.
			if exp < 1e9 {
				exp = exp*10 + int(raw[i]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	// Drop leading zeros, then trailing zeros into the exponent.
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	exp -= fracLen
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if len(digits) == 0 {
		// Zero in any spelling, "-0.0e5" included.
		return jsonInteger{integral: true, inRange: true}
	}
	if exp < 0 {
		return r
	}
	r.integral = true
	if neg || len(digits)+exp > 19 {
		return r
	}
	var v uint64
	for _, c := range digits {
		v = v*10 + uint64(c-'0')
	}
	for ; exp > 0; exp-- {
		v *= 10
	}
	// 19 digits can reach 9_999_999_999_999_999_999, which still fits in
	// a uint64, so the check after the arithmetic is exact.
	if v > math.MaxInt64 {
		return r
	}
	r.value, r.inRange = int64(v), true
	return r
}
