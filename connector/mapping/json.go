package mapping

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/contactlab/connector/schemas"
)

// parseJSON parses one JSON value keeping every digit of its numbers
// (json.Number, which jq computes with exactly). ok is false when b is not
// one JSON value.
//
// schemas.ValidJSON says whether b is JSON, exactly as json.Valid would
// and several times faster; the values are then built by one plain pass
// over text known to be valid. encoding/json's Decoder, which UseNumber
// needs, scanned the value twice more with its state machine and copied it
// into a buffer of its own: it was a third of the mapping's CPU, on every
// record.
func parseJSON(b []byte) (v any, ok bool) {
	if len(b) == 0 || !schemas.ValidJSON(b) {
		return nil, false
	}
	p := valueParser{b: b}
	return p.value(), true
}

// valueParser builds the value of valid JSON text, as encoding/json's
// Decoder with UseNumber would: objects as map[string]any (the last of a
// repeated name wins), arrays as []any, numbers as json.Number, strings
// with their escapes resolved and invalid UTF-8 replaced.
type valueParser struct {
	b []byte
	i int
}

func (p *valueParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// more reads what follows a member or an item: true after a comma, false
// after the closing bracket.
func (p *valueParser) more() bool {
	p.space()
	c := p.b[p.i]
	p.i++ // ',' or the closing bracket
	return c == ','
}

func (p *valueParser) value() any {
	p.space()
	switch c := p.b[p.i]; c {
	case '{':
		p.i++
		m := map[string]any{}
		p.space()
		if p.b[p.i] == '}' {
			p.i++
			return m
		}
		for {
			p.space()
			k := p.string()
			p.space()
			p.i++ // ':'
			m[k] = p.value()
			if !p.more() {
				return m
			}
		}
	case '[':
		p.i++
		a := []any{}
		p.space()
		if p.b[p.i] == ']' {
			p.i++
			return a
		}
		for {
			a = append(a, p.value())
			if !p.more() {
				return a
			}
		}
	case '"':
		return p.string()
	case 't':
		p.i += 4
		return true
	case 'f':
		p.i += 5
		return false
	case 'n':
		p.i += 4
		return nil
	default: // a number
		start := p.i
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				p.i++
				continue
			}
			break
		}
		return json.Number(p.b[start:p.i])
	}
}

// string reads the string that starts at p.i. Text without escapes, in
// UTF-8, is copied as it is; a string with escapes or bytes that are not
// UTF-8 is left to encoding/json, whose rules for both it keeps.
func (p *valueParser) string() string {
	start := p.i
	p.i++ // '"'
	escaped, ascii := false, true
	for c := p.b[p.i]; c != '"'; c = p.b[p.i] {
		switch {
		case c == '\\':
			escaped = true
			p.i += 2
			continue
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	p.i++ // '"'
	if s := p.b[start+1 : p.i-1]; !escaped && (ascii || utf8.Valid(s)) {
		return string(s)
	}
	var s string
	_ = json.Unmarshal(p.b[start:p.i], &s) // valid: parseJSON checked it
	return s
}
