package hub

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFilename is the longest file name an upload may give, in characters.
const MaxFilename = 255

// CheckFilename validates the name an upload gives its file, for every
// upload route: required, at most MaxFilename characters of valid UTF-8,
// no path (/ or \), no control characters (CR and LF would split a
// Content-Disposition header or a log line) and no bidirectional
// formatting characters (which make "x\u202Efdp.exe" read as "xexe.pdf").
// The error names field.
func CheckFilename(field, name string) error {
	switch {
	case name == "":
		return FieldError(field, "is required: the file's name with its extension")
	case !utf8.ValidString(name):
		return FieldError(field, "must be valid UTF-8 text")
	case utf8.RuneCountInString(name) > MaxFilename:
		return FieldError(field, "at most %d characters", MaxFilename)
	case strings.ContainsAny(name, `/\`):
		return FieldError(field, `must be a file name, without / or \`)
	case name == "." || name == "..":
		return FieldError(field, "must be a file name, not %q", name)
	case strings.TrimSpace(name) != name:
		return FieldError(field, "must not begin or end with spaces")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return FieldError(field, "must not contain control characters (U+%04X; CR, LF, tab…)", r)
		}
		if unicode.Is(unicode.Bidi_Control, r) {
			return FieldError(field, "must not contain bidirectional formatting characters (U+%04X)", r)
		}
	}
	return nil
}
