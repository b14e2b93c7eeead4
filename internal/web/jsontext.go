package web

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"fiberauth/internal/apperr"
)

// maxFieldPath bounds the field name an error echoes back: a key is client input.
const maxFieldPath = 128

// checkJSONText refuses what encoding/json would accept only by changing it: it is
// nil for well-formed JSON whose strings are all valid UTF-8 with no escaped lone
// surrogate. encoding/json turns both into U+FFFD, so two different byte strings
// (two passwords) would decode to the same value. Malformed JSON is a 400, unless its
// bytes are not UTF-8 at all; an unfaithful string is a 422 naming its field.
func checkJSONText(body []byte) error {
	if !json.Valid(body) {
		if !utf8.Valid(body) {
			return invalidUTF8("body")
		}
		return errMalformedJSON
	}
	if field, ok := unfaithfulString(body); ok {
		return invalidUTF8(field)
	}
	return nil
}

func invalidUTF8(field string) error {
	return apperr.Validation("Validation error", apperr.FieldError{Field: field, Message: "must be valid UTF-8"})
}

// jsonFrame is one open object or array on the way to the current position.
type jsonFrame struct {
	object    bool
	expectKey bool // in an object: the next string is a member name
	key       []byte
}

// unfaithfulString walks JSON text once and reports the first string (member names
// included) that is not valid UTF-8 or holds an escaped lone surrogate, with the path
// of member names leading to it ("body" when there is none or it is too long to echo).
// It never fails on malformed input, but names fields sensibly only for JSON that
// json.Valid accepts.
func unfaithfulString(data []byte) (field string, found bool) {
	var stack []jsonFrame
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, jsonFrame{object: true, expectKey: true})
		case '[':
			stack = append(stack, jsonFrame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '"':
			end, ok := scanString(data, i+1)
			isKey := len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].expectKey
			if !ok {
				if isKey {
					return fieldPath(stack[:len(stack)-1]), true
				}
				return fieldPath(stack), true
			}
			if isKey {
				top := &stack[len(stack)-1]
				top.key, top.expectKey = data[i:end+1], false
			}
			i = end
		default:
			// Only malformed JSON has non-ASCII bytes outside strings.
			if data[i] >= utf8.RuneSelf {
				r, size := utf8.DecodeRune(data[i:])
				if r == utf8.RuneError && size <= 1 {
					return "body", true
				}
				i += size - 1
			}
		}
	}
	return "", false
}

// scanString reads the string whose contents start at data[i], returning the index
// of its closing quote and whether every byte and escape in it stands for itself.
// An unterminated string ends at len(data).
func scanString(data []byte, i int) (end int, ok bool) {
	ok = true
	for i < len(data) {
		switch b := data[i]; {
		case b == '"':
			return i, ok
		case b == '\\':
			if i+1 < len(data) && data[i+1] == 'u' {
				u, valid := hex4(data, i+2)
				switch {
				case !valid:
					i += 2 // malformed; json.Valid has refused it already
				case 0xd800 <= u && u < 0xdc00:
					// A high surrogate stands for a character only with a low one right after.
					if lo, valid := hex4(data, i+8); valid && data[i+6] == '\\' && data[i+7] == 'u' && 0xdc00 <= lo && lo < 0xe000 {
						i += 12
					} else {
						ok = false
						i += 6
					}
				case 0xdc00 <= u && u < 0xe000:
					ok = false
					i += 6
				default:
					i += 6
				}
				continue
			}
			i += 2
		case b < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				ok = false // a literal U+FFFD decodes with size 3 and is fine
			}
			i += size
		}
	}
	return len(data), ok
}

// hex4 decodes the four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// fieldPath names the member the open frames lead to, as encoding/json's
// UnmarshalTypeError.Field does (member names joined by dots, arrays skipped).
func fieldPath(stack []jsonFrame) string {
	var names []string
	for _, f := range stack {
		if !f.object || f.key == nil {
			continue
		}
		var name string
		if json.Unmarshal(f.key, &name) != nil {
			return "body"
		}
		names = append(names, name)
	}
	path := strings.Join(names, ".")
	if path == "" || len(path) > maxFieldPath {
		return "body"
	}
	return path
}
