package meetings

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/communehub/communehub/hub"
)

// A PDF export carries its signed minutes as a document-level embedded file
// (docs/minutes-format.md). The verifier reads only that: it finds every
// embedded file stream by its object, whether or not a cross-reference
// table points to it, so an object hidden by an incremental update is seen
// too, and refuses a PDF carrying more than one distinct minutes document.

var (
	pdfObjStart  = regexp.MustCompile(`(\d{1,10})\s+(\d{1,5})\s+obj\b`)
	pdfTypeEmbed = regexp.MustCompile(`/Type\s*/EmbeddedFile(?:[\s/<>\[\]()]|$)`)
	pdfLength    = regexp.MustCompile(`/Length\s+(\d{1,10})(?:\s+(\d{1,5})\s+R)?`)
	pdfFilter    = regexp.MustCompile(`/Filter\s*(\[\s*)?/(\w+)`)
)

// minutesFromPDF returns the signed minutes JSON that a PDF carries.
func minutesFromPDF(pdf []byte) ([]byte, error) {
	files, err := pdfEmbeddedFiles(pdf)
	if err != nil {
		return nil, hub.FieldError("body", "the PDF's embedded files cannot be read: %v", err)
	}
	var found [][]byte
	for _, f := range files {
		t := bytes.TrimSpace(f)
		if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"communehub-minutes-`)) {
			continue
		}
		seen := false
		for _, g := range found {
			seen = seen || bytes.Equal(g, t)
		}
		if !seen {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, hub.FieldError("body", "the PDF carries no signed minutes (no embedded communehub-minutes JSON file)")
	case 1:
		return found[0], nil
	}
	return nil, hub.FieldError("body", "the PDF carries %d different signed minutes documents; a genuine export carries one", len(found))
}

// Bounds on the work a PDF given to the verifier can cause: a genuine
// export has one embedded file, a small dictionary in front of it.
const (
	maxPDFEmbedded = 16
	maxPDFDict     = 64 << 10
)

// pdfEmbeddedFiles returns the decoded content of every /EmbeddedFile
// stream object in pdf.
func pdfEmbeddedFiles(pdf []byte) ([][]byte, error) {
	locs := pdfTypeEmbed.FindAllIndex(pdf, maxPDFEmbedded+1)
	if len(locs) > maxPDFEmbedded {
		return nil, fmt.Errorf("more than %d embedded files", maxPDFEmbedded)
	}
	var out [][]byte
	var firstErr error
	for _, loc := range locs {
		// The object holding it: the last "N G obj" before it.
		from := max(0, loc[0]-maxPDFDict)
		objs := pdfObjStart.FindAllIndex(pdf[from:loc[0]], -1)
		if len(objs) == 0 {
			continue
		}
		at := from + objs[len(objs)-1][1]
		dict, n, ok := pdfDict(pdf[at:])
		if !ok || at+n <= loc[0] {
			continue
		}
		data, err := pdfStream(pdf, dict, pdf[at+n:])
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, data)
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// pdfDict reads the dictionary that b starts with (after white space): the
// dictionary's bytes and where it ends. Strings and nested dictionaries
// are skipped over, so a ">>" inside them does not end it.
func pdfDict(b []byte) ([]byte, int, bool) {
	b = b[:min(len(b), maxPDFDict)]
	i := skipPDFSpace(b, 0)
	if !bytes.HasPrefix(b[i:], []byte("<<")) {
		return nil, 0, false
	}
	start, depth := i, 0
	for i < len(b) {
		switch {
		case bytes.HasPrefix(b[i:], []byte("<<")):
			depth++
			i += 2
		case bytes.HasPrefix(b[i:], []byte(">>")):
			depth--
			i += 2
			if depth == 0 {
				return b[start:i], i, true
			}
		case b[i] == '(':
			i = skipPDFString(b, i)
		case b[i] == '<': // a hex string
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				return nil, 0, false
			}
			i += j + 1
		case b[i] == '%': // a comment runs to the end of the line
			for i < len(b) && b[i] != '\n' && b[i] != '\r' {
				i++
			}
		default:
			i++
		}
	}
	return nil, 0, false
}

// skipPDFString returns the index after the literal string starting at i,
// with its balanced parentheses and backslash escapes.
func skipPDFString(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(b)
}

func skipPDFSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t' || b[i] == '\f' || b[i] == 0) {
		i++
	}
	return i
}

// pdfStream decodes the stream whose dictionary is dict and whose keyword
// "stream" starts after white space in rest.
func pdfStream(pdf, dict, rest []byte) ([]byte, error) {
	i := skipPDFSpace(rest, 0)
	if !bytes.HasPrefix(rest[i:], []byte("stream")) {
		return nil, errors.New("an embedded file object without a stream")
	}
	i += len("stream")
	if bytes.HasPrefix(rest[i:], []byte("\r\n")) {
		i += 2
	} else if i < len(rest) && rest[i] == '\n' {
		i++
	} else {
		return nil, errors.New("the stream keyword is not followed by an end of line")
	}
	length, err := pdfStreamLength(pdf, dict)
	if err != nil {
		return nil, err
	}
	if length > len(rest)-i {
		return nil, fmt.Errorf("the embedded file's /Length %d runs past the end of the PDF", length)
	}
	data := rest[i : i+length]
	if !bytes.HasPrefix(bytes.TrimLeft(rest[i+length:], "\r\n "), []byte("endstream")) {
		return nil, errors.New("the embedded file's stream does not end where its /Length says")
	}
	m := pdfFilter.FindSubmatch(dict)
	switch {
	case m == nil:
		return data, nil
	case string(m[2]) != "FlateDecode" || bytes.Contains(dict, []byte("/DecodeParms")):
		return nil, fmt.Errorf("the embedded file uses the filter %s; only FlateDecode is read", m[2])
	}
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the embedded file does not inflate: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxMinutesDoc+1))
	if err != nil {
		return nil, fmt.Errorf("the embedded file does not inflate: %w", err)
	}
	if len(out) > maxMinutesDoc {
		return nil, fmt.Errorf("the embedded file is larger than %d MiB", maxMinutesDoc>>20)
	}
	return out, nil
}

// pdfStreamLength reads /Length from dict: a number, or a reference to an
// object holding one.
func pdfStreamLength(pdf, dict []byte) (int, error) {
	m := pdfLength.FindSubmatch(dict)
	if m == nil {
		return 0, errors.New("the embedded file has no /Length")
	}
	if m[2] == nil {
		return strconv.Atoi(string(m[1]))
	}
	ref := regexp.MustCompile(`(?:^|[^\d])` + string(m[1]) + `\s+` + string(m[2]) + `\s+obj\s*(\d{1,10})\s*endobj`)
	r := ref.FindSubmatch(pdf)
	if r == nil {
		return 0, fmt.Errorf("the embedded file's /Length %s %s R is not found", m[1], m[2])
	}
	return strconv.Atoi(string(r[1]))
}
