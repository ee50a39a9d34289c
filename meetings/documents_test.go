package meetings_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/communehub/communehub/meetings"
)

func (f *fixture) storedFiles() int {
	n := 0
	filepath.Walk(filepath.Join(f.DataDir, "meetings", "documents"), func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestDocumentUploadAndResumableDownload(t *testing.T) {
	f := newFixture(t)
	pdf := DemoPDF("Bao cao thang 11", 4)
	item := f.Items[0].ID
	var doc Document
	status, _, b := f.Call("POST", fmt.Sprintf("/api/v1/meetings/%d/documents?item=%d&filename=bao-cao.pdf&title=%s", f.Meeting.ID, item,
		"B%C3%A1o%20c%C3%A1o"), "thuky", bytes.NewReader(pdf), "Content-Type", "application/pdf")
	if status != 201 {
		t.Fatalf("upload by the secretary: %d %s", status, b)
	}
	mustJSON(t, b, &doc)
	sum := sha256.Sum256(pdf)
	v := doc.Versions[0]
	if doc.Title != "Báo cáo" || v.Size != int64(len(pdf)) || v.SHA256 != hex.EncodeToString(sum[:]) || v.Pages == nil || *v.Pages != 4 ||
		v.ContentType != "application/pdf" || *doc.Item != item {
		t.Fatalf("stored document %+v %+v", doc, v)
	}
	url := fmt.Sprintf("/api/v1/meetings/%d/documents/%d/versions/1/content", f.Meeting.ID, doc.ID)
	etag := `"sha256-` + v.SHA256 + `"`

	status, h, body := f.Call("GET", url, "pct1", nil)
	if status != 200 || !bytes.Equal(body, pdf) || h.Get("ETag") != etag || h.Get("Accept-Ranges") != "bytes" ||
		!strings.Contains(h.Get("Cache-Control"), "immutable") {
		t.Fatalf("download: %d %v", status, h)
	}
	// Resuming: a byte range, an open-ended one and a suffix.
	for _, rc := range []struct {
		rng        string
		start, end int
	}{{"bytes=10-19", 10, 19}, {"bytes=100-", 100, len(pdf) - 1}, {"bytes=-30", len(pdf) - 30, len(pdf) - 1}, {"bytes=5-999999", 5, len(pdf) - 1}} {
		status, h, body := f.Call("GET", url, "pct1", nil, "Range", rc.rng, "If-Range", etag)
		if status != 206 || !bytes.Equal(body, pdf[rc.start:rc.end+1]) ||
			h.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", rc.start, rc.end, len(pdf)) {
			t.Errorf("%s: %d %q (%d bytes)", rc.rng, status, h.Get("Content-Range"), len(body))
		}
	}
	if status, _, body := f.Call("GET", url, "pct1", nil, "Range", "bytes=10-19", "If-Range", `"sha256-other"`); status != 200 || len(body) != len(pdf) {
		t.Errorf("If-Range with another version: %d, %d bytes", status, len(body))
	}
	if status, h, _ := f.Call("GET", url, "pct1", nil, "Range", fmt.Sprintf("bytes=%d-", len(pdf))); status != 416 || h.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(pdf)) {
		t.Errorf("range past the end: %d %v", status, h)
	}
	if status, _, body := f.Call("GET", url, "pct1", nil, "If-None-Match", etag); status != 304 || len(body) != 0 {
		t.Errorf("revalidation: %d", status)
	}

	// A new version; the unversioned URL serves the latest and is revalidated.
	pdf2 := DemoPDF("Bao cao thang 11 (sua)", 5)
	status, _, b = f.Call("POST", fmt.Sprintf("/api/v1/meetings/%d/documents/%d/versions?filename=bao-cao-sua.pdf", f.Meeting.ID, doc.ID),
		"admin", bytes.NewReader(pdf2))
	if status != 201 {
		t.Fatalf("new version: %d %s", status, b)
	}
	mustJSON(t, b, &doc)
	if len(doc.Versions) != 2 || doc.Versions[1].Version != 2 || doc.Versions[1].Filename != "bao-cao-sua.pdf" {
		t.Fatalf("versions %+v", doc.Versions)
	}
	status, h, body = f.Call("GET", fmt.Sprintf("/api/v1/meetings/%d/documents/%d/content", f.Meeting.ID, doc.ID), "guest", nil)
	if status != 200 || !bytes.Equal(body, pdf2) || !strings.Contains(h.Get("Cache-Control"), "no-cache") {
		t.Fatalf("latest as the guest: %d %v", status, h)
	}
	if status, _, _ := f.Call("GET", url, "outsider", nil); status != 403 {
		t.Errorf("a user not invited downloads: %d", status)
	}
	if status, _, _ := f.Call("GET", url+"?invite=mtg_wrong", "", nil); status != 403 {
		t.Errorf("a wrong invite link downloads: %d", status)
	}
	if status, _, _ := f.Call("GET", fmt.Sprintf("/api/v1/meetings/%d/documents/%d/versions/9/content", f.Meeting.ID, doc.ID), "pct1", nil); status != 404 {
		t.Errorf("missing version: %d", status)
	}
}

func TestBadUploadsAreRefusedAndLeaveNothing(t *testing.T) {
	f := newFixture(t)
	pdf := DemoPDF("x", 1)
	docsURL := fmt.Sprintf("/api/v1/meetings/%d/documents?filename=", f.Meeting.ID)
	big := append(append([]byte{}, pdf...), make([]byte, 1<<20)...) // fixture limit: 1 MiB
	zip := append([]byte("PK\x03\x04"), make([]byte, 100)...)
	cases := []struct {
		name, user, file string
		body             []byte
		headers          []string
		status           int
		field            string
	}{
		{"over the size limit", "thuky", "lon.pdf", big, nil, 413, "body"},
		{"over the limit, chunked", "thuky", "lon.pdf", big, []string{"Transfer-Encoding", "chunked"}, 413, "body"},
		{"type not allowed", "thuky", "setup.exe", []byte("MZ...."), nil, 422, "filename"},
		{"no extension", "thuky", "baocao", pdf, nil, 422, "filename"},
		{"content is not what the name says", "thuky", "bao-cao.pdf", zip, nil, 422, "filename"},
		{"a zip is not a legacy .doc", "thuky", "bao-cao.doc", zip, nil, 422, "filename"},
		{"no file name", "thuky", "", pdf, nil, 400, "filename"},
		{"a path as the name", "thuky", "..%2Fx.pdf", pdf, nil, 400, "filename"},
		{"CR/LF in the name", "thuky", "a%0D%0AX-Injected:%201.pdf", pdf, nil, 400, "filename"},
		{"CR/LF in X-Filename", "thuky", "", pdf, []string{"X-Filename", "bao-cao%0D%0A.pdf"}, 400, "filename"},
		{"a control character in the name", "thuky", "a%09b%7F.pdf", pdf, nil, 400, "filename"},
		{"a backslash in the name", "thuky", "..%5Cx.pdf", pdf, nil, 400, "filename"},
		{"a right-to-left override in the name", "thuky", "x%E2%80%AEfdp.pdf", pdf, nil, 400, "filename"},
		{"empty file", "thuky", "rong.pdf", nil, nil, 400, "body"},
		{"multipart form", "thuky", "a.pdf", pdf, []string{"Content-Type", "multipart/form-data; boundary=x"}, 400, ""},
		{"a member who is not the secretary", "pct1", "a.pdf", pdf, nil, 403, ""},
		{"a user not invited", "outsider", "a.pdf", pdf, nil, 403, ""},
		{"nobody", "", "a.pdf", pdf, nil, 401, ""},
	}
	for _, tc := range cases {
		files, versions, events := f.storedFiles(), f.Count(`SELECT count(*) FROM meeting_document_versions`), f.Count(`SELECT count(*) FROM meeting_events`)
		status, _, b := f.Call("POST", docsURL+tc.file, tc.user, bytes.NewReader(tc.body), tc.headers...)
		if status != tc.status || (tc.field != "" && !strings.Contains(string(b), `"field":"`+tc.field+`"`)) {
			t.Errorf("%s: %d %s, want %d naming %q", tc.name, status, b, tc.status, tc.field)
		}
		if f.storedFiles() != files || f.Count(`SELECT count(*) FROM meeting_document_versions`) != versions ||
			f.Count(`SELECT count(*) FROM meeting_events`) != events {
			t.Errorf("%s left something behind", tc.name)
		}
	}
	// Leftover temporary files would show up here too.
	entries, _ := os.ReadDir(filepath.Join(f.DataDir, "meetings", "documents"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".upload-") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

func TestParseDocTypes(t *testing.T) {
	got, err := ParseDocTypes(" PDF, .docx,pdf ")
	if err != nil || strings.Join(got, ",") != "pdf,docx" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", ",", "exe", "pdf,js"} {
		if _, err := ParseDocTypes(bad); err == nil {
			t.Errorf("ParseDocTypes(%q) accepted", bad)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		h              string
		start, end     int64
		partial, isErr bool
	}{
		{"", 0, 99, false, false},
		{"bytes=0-9", 0, 9, true, false},
		{"bytes=90-", 90, 99, true, false},
		{"bytes=90-200", 90, 99, true, false},
		{"bytes=-10", 90, 99, true, false},
		{"bytes=-1000", 0, 99, false, false},
		{"bytes=0-0,5-6", 0, 99, false, false},
		{"items=0-5", 0, 99, false, false},
		{"bytes=100-", 0, 0, false, true},
		{"bytes=9-3", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=a-b", 0, 0, false, true},
		{"bytes=5", 0, 0, false, true},
		{"bytes=+5-6", 0, 0, false, true},
		{"bytes=99999999999999999999-", 0, 0, false, true},
	}
	for _, tt := range tests {
		s, e, p, err := ParseRange(tt.h, 100)
		if (err != nil) != tt.isErr || (!tt.isErr && (s != tt.start || e != tt.end || p != tt.partial)) {
			t.Errorf("ParseRange(%q) = %d-%d %v %v", tt.h, s, e, p, err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=7-", "bytes=1-2,3-4", "bytes=x", "bytes=--1", ""} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size <= 0 || size > 1<<40 {
			return
		}
		s, e, _, err := ParseRange(h, size)
		if err == nil && (s < 0 || e < s || e >= size) {
			t.Fatalf("ParseRange(%q, %d) = %d-%d", h, size, s, e)
		}
	})
}
