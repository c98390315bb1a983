package schemas

// ValidJSON reports whether data is one JSON value, exactly as json.Valid
// does (same grammar, same nesting limit, invalid UTF-8 allowed in strings),
// several times faster: strings are scanned by a table lookup per byte
// instead of a state-function call. The mappings check every record's value
// with it before parsing it. The record decoders use checkIJSON, the same
// scan with the checks of I-JSON, and json.Valid only to word a syntax
// error.
func ValidJSON(data []byte) bool {
	i := validValue(data, 0, 0)
	return i >= 0 && skipSpace(data, i) == len(data)
}

// validValue checks the value that starts at data[i] (after white space),
// nested depth levels deep, and returns the index past it, or -1.
func validValue(data []byte, i, depth int) int {
	var open [64]byte
	stack := open[:0] // the containers opened here, '{' or '['
	for {
		// A value starts at i.
		i = skipSpace(data, i)
		if i >= len(data) {
			return -1
		}
		switch data[i] {
		case '{', '[':
			if depth+len(stack) >= maxJSONDepth {
				return -1
			}
			c, end := data[i], byte('}')
			if c == '[' {
				end = ']'
			}
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == end {
				i++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				if i = validKey(data, i); i < 0 {
					return -1
				}
			}
			continue
		case '"':
			i = validString(data, i)
		case 't':
			i = validLiteral(data, i, "true")
		case 'f':
			i = validLiteral(data, i, "false")
		case 'n':
			i = validLiteral(data, i, "null")
		default:
			i = validNumber(data, i)
		}
		if i < 0 {
			return -1
		}
		// A value ended at i: close containers until one goes on.
	closing:
		for {
			if len(stack) == 0 {
				return i
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return -1
			}
			top := stack[len(stack)-1]
			switch c := data[i]; {
			case c == ',':
				i++
				if top == '{' {
					if i = validKey(data, skipSpace(data, i)); i < 0 {
						return -1
					}
				}
				break closing
			case c == '}' && top == '{', c == ']' && top == '[':
				stack = stack[:len(stack)-1]
				i++
			default:
				return -1
			}
		}
	}
}

// maxJSONDepth is encoding/json's limit on nesting.
const maxJSONDepth = 10000

// validKey checks `"name" :` at i and returns the index past the colon, or -1.
func validKey(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	if i = validString(data, i); i < 0 {
		return -1
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return -1
	}
	return i + 1
}

// plainStringByte marks the bytes a string holds as they are: not the
// closing quote, not a backslash, not a control character.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// validString checks the string that starts at data[i] == '"' and returns
// the index past it, or -1.
func validString(data []byte, i int) int {
	i++
	for {
		for i < len(data) && plainStringByte[data[i]] {
			i++
		}
		if i >= len(data) {
			return -1
		}
		switch data[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(data) {
				return -1
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

func validLiteral(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// validNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i and
// returns the index past it, or -1. What follows is the caller's to check.
func validNumber(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return -1
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = digits(data, i+1)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}
