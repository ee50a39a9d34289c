package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CheckJSONText refuses a JSON text whose strings are not valid Unicode:
// invalid UTF-8 bytes, or a \u escape of half a surrogate pair —
// encoding/json would silently decode U+FFFD in their place. The error
// names the field at fault ("a.b[2].c"; "body" outside any field).
// DecodeJSON calls it; a feature that reads JSON its own way calls it too.
func CheckJSONText(body []byte) error {
	bad := invalidUTF8At(body)
	if bad < 0 && !bytes.Contains(body, []byte(`\ud`)) && !bytes.Contains(body, []byte(`\uD`)) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object  bool
		wantKey bool // in an object, before a member's name
		key     string
		index   int
	}
	var stack []frame
	path := func(last string) string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.object && !f.wantKey:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			case !f.object:
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			}
		}
		if last != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(last)
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil { // malformed: Decode reports it
			break
		}
		end := dec.InputOffset()
		s, isString := tok.(string)
		refused := isString && ((bad >= int(start) && bad < int(end)) || badEscape(body[start:end]))
		switch {
		case tok == json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
		case tok == json.Delim('['):
			stack = append(stack, frame{})
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		case len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].wantKey:
			if refused {
				return FieldError(path(s), "the field's name is not valid UTF-8 text")
			}
			stack[len(stack)-1].key, stack[len(stack)-1].wantKey = s, false
		default:
			if refused {
				return FieldError(path(""), "must be valid UTF-8 text (it holds bytes that are not, or half a surrogate pair)")
			}
			valueDone()
		}
	}
	if bad >= 0 {
		return FieldError("body", "must be valid UTF-8 text")
	}
	return nil
}

// invalidUTF8At returns the offset of the first byte of b that is not
// valid UTF-8, or -1.
func invalidUTF8At(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// badEscape reports whether a raw JSON string holds a \u escape of a
// surrogate that is not part of a high-low pair.
func badEscape(raw []byte) bool {
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			return false // malformed: the decoder refuses it
		}
		switch {
		case r >= 0xD800 && r < 0xDC00: // high: a low must follow
			lo, ok := hex4(raw, i+8)
			if i+7 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' || !ok || lo < 0xDC00 || lo >= 0xE000 {
				return true
			}
			i += 11
		case r >= 0xDC00 && r < 0xE000:
			return true
		default:
			i += 5
		}
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+4]), 16, 32)
	return rune(v), err == nil
}
