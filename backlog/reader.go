package backlog

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
)

// rawRow is one record of an import file: its raw fields, or the reason
// it cannot be read.
type rawRow struct {
	Row    int // 1-based record number (the CSV header is not a record)
	Line   int // line of the file where the record starts
	Fields map[string]string
	JSON   []byte // a JSON object not decoded yet (see fields)
	Err    error
}

// fields decodes a JSON row's fields (once); CSV rows come decoded. It is
// separate from reading so that rows can be decoded in parallel.
func (r *rawRow) fields() (map[string]string, error) {
	if r.JSON != nil && r.Err == nil && r.Fields == nil {
		r.Fields, r.Err = jsonFields(r.JSON)
		r.JSON = nil
	}
	return r.Fields, r.Err
}

// rowReader yields the records of an import file. Next returns io.EOF at
// the end; any other error is fatal for the whole file (a broken header,
// broken quoting) and names the row and field.
type rowReader interface {
	Next() (rawRow, error)
}

// maxLine bounds one JSON line.
const maxLine = 1 << 20

// newRowReader picks the format: "csv", "jsonl" (also a JSON array), or
// "" to sniff the first non-blank byte ('{' or '[' → JSON, else CSV).
func newRowReader(r io.Reader, format string) (rowReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if format == "" {
		for {
			b, err := br.Peek(1)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil, hub.FieldError("body", "the file is empty")
				}
				return nil, err
			}
			if b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t' {
				_, _ = br.ReadByte()
				continue
			}
			if b[0] == '{' || b[0] == '[' {
				format = "jsonl"
			} else {
				format = "csv"
			}
			break
		}
	}
	switch format {
	case "csv":
		return newCSVReader(br)
	case "jsonl", "json", "ndjson":
		return newJSONReader(br)
	}
	return nil, hub.FieldError("format", "must be csv or jsonl, not %q", clip(format))
}

type csvReader struct {
	r      *csv.Reader
	header []string
	row    int
}

func newCSVReader(br *bufio.Reader) (*csvReader, error) {
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3) // UTF-8 byte order mark (spreadsheet exports)
	}
	r := csv.NewReader(br)
	r.ReuseRecord = false
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, hub.FieldError("body", "the file is empty: a CSV header row is required")
	}
	if err != nil {
		return nil, csvFatal(err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if _, ok := portalFields[h]; !ok {
			field := clip(h)
			if h == "" {
				field = fmt.Sprintf("column %d", i+1)
			}
			return nil, &hub.Error{Code: hub.EInvalid, Field: field, Message: fmt.Sprintf("row 1 (header), column %d: unknown column %q", i+1, clip(h)),
				Details: map[string]any{"row": 0, "line": 1}}
		}
		if seen[h] {
			return nil, &hub.Error{Code: hub.EInvalid, Field: h, Message: fmt.Sprintf("row 1 (header): column %q appears twice", h),
				Details: map[string]any{"row": 0, "line": 1}}
		}
		seen[h] = true
	}
	for _, req := range requiredColumns {
		if !seen[req] {
			return nil, &hub.Error{Code: hub.EInvalid, Field: req, Message: fmt.Sprintf("row 1 (header): missing required column %s (required: %s)", req, strings.Join(requiredColumns, ", ")),
				Details: map[string]any{"row": 0, "line": 1}}
		}
	}
	return &csvReader{r: r, header: header}, nil
}

// csvFatal turns a quoting error into a 400 naming the line and column.
func csvFatal(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	return &hub.Error{Code: hub.EInvalid, Field: fmt.Sprintf("column %d", pe.Column),
		Message: fmt.Sprintf("line %d, column %d: %v — the file is not valid CSV (quote fields containing commas, quotes or line breaks, and double inner quotes)", pe.Line, pe.Column, pe.Err),
		Details: map[string]any{"line": pe.Line, "column": pe.Column}}
}

func (c *csvReader) Next() (rawRow, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return rawRow{}, io.EOF
	}
	c.row++
	line, _ := c.r.FieldPos(0)
	var pe *csv.ParseError
	if err != nil && errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
		return rawRow{Row: c.row, Line: pe.StartLine, Err: &hub.Error{Code: hub.EInvalid, Field: "row",
			Message: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(c.header))}}, nil
	}
	if err != nil {
		e := csvFatal(err)
		var he *hub.Error
		if errors.As(e, &he) {
			he.Message = fmt.Sprintf("row %d (%s)", c.row, he.Message)
			if d, ok := he.Details.(map[string]any); ok {
				d["row"] = c.row
			}
		}
		return rawRow{}, e
	}
	f := make(map[string]string, len(rec))
	for i, v := range rec {
		if !utf8.ValidString(v) {
			return rawRow{Row: c.row, Line: line, Err: hub.FieldError(c.header[i], "is not valid UTF-8 text (save the file as UTF-8)")}, nil
		}
		if v != "" {
			f[c.header[i]] = v
		}
	}
	return rawRow{Row: c.row, Line: line, Fields: f}, nil
}

type jsonReader struct {
	br    *bufio.Reader
	line  int
	row   int
	array []json.RawMessage // when the body is a JSON array
	isArr bool
}

func newJSONReader(br *bufio.Reader) (*jsonReader, error) {
	j := &jsonReader{br: br}
	b, err := br.Peek(1)
	if err == nil && b[0] == '[' {
		dec := json.NewDecoder(br)
		if err := dec.Decode(&j.array); err != nil {
			return nil, hub.FieldError("body", "malformed JSON array: %v", err)
		}
		j.isArr = true
	}
	return j, nil
}

func (j *jsonReader) Next() (rawRow, error) {
	if j.isArr {
		if j.row >= len(j.array) {
			return rawRow{}, io.EOF
		}
		j.row++
		return rawRow{Row: j.row, JSON: j.array[j.row-1]}, nil
	}
	for {
		line, err := readLine(j.br)
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return rawRow{}, io.EOF
		}
		j.line++
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, errLongLine) {
				j.row++
				return rawRow{Row: j.row, Line: j.line, Err: hub.FieldError("row", "a JSON line is longer than %d bytes", maxLine)}, nil
			}
			return rawRow{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		j.row++
		return rawRow{Row: j.row, Line: j.line, JSON: line}, nil
	}
}

var errLongLine = errors.New("line too long")

// readLine reads one line without its end; a line over maxLine is
// skipped to its end and reported.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(out)+len(chunk) > maxLine {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, errLongLine
		}
		out = append(out, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		out = bytes.TrimRight(out, "\r\n")
		return out, err
	}
}
