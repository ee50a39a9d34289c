package meetings

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// docFormat is what an allowed document extension must look like.
type docFormat struct {
	mime  string
	magic []byte
}

var (
	magicPDF = []byte("%PDF-")
	magicZip = []byte("PK\x03\x04")                       // OOXML and OpenDocument
	magicOLE = []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") // legacy Office
)

// docFormats are the document types the hub knows how to check; the
// configured allow-list is a subset of these.
var docFormats = map[string]docFormat{
	"pdf":  {"application/pdf", magicPDF},
	"doc":  {"application/msword", magicOLE},
	"xls":  {"application/vnd.ms-excel", magicOLE},
	"ppt":  {"application/vnd.ms-powerpoint", magicOLE},
	"docx": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", magicZip},
	"xlsx": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", magicZip},
	"pptx": {"application/vnd.openxmlformats-officedocument.presentationml.presentation", magicZip},
	"odt":  {"application/vnd.oasis.opendocument.text", magicZip},
	"ods":  {"application/vnd.oasis.opendocument.spreadsheet", magicZip},
	"odp":  {"application/vnd.oasis.opendocument.presentation", magicZip},
}

// KnownDocTypes lists the extensions that may be allowed, sorted.
func KnownDocTypes() []string {
	out := make([]string, 0, len(docFormats))
	for k := range docFormats {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ParseDocTypes parses a comma-separated allow-list of extensions.
func ParseDocTypes(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(t), "."))
		if t == "" {
			continue
		}
		if _, ok := docFormats[t]; !ok {
			return nil, fmt.Errorf("unknown document type %q (known: %s)", t, strings.Join(KnownDocTypes(), ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no document type")
	}
	return out, nil
}

// docStore keeps document contents under DataDir/meetings/documents, each
// file named by its SHA-256, so a version never changes once written.
type docStore struct {
	dir   string
	max   int64
	types []string
}

func newDocStore(cfg ProceedingsConfig) (*docStore, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("meetings: no data dir for documents")
	}
	for _, t := range cfg.DocTypes {
		if _, ok := docFormats[t]; !ok {
			return nil, fmt.Errorf("meetings: unknown document type %q", t)
		}
	}
	return &docStore{dir: filepath.Join(cfg.DataDir, "meetings", "documents"), max: cfg.DocMaxBytes, types: cfg.DocTypes}, nil
}

// makeDir makes the store's directory if it is missing.
func (s *docStore) makeDir() error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("meetings: document dir: %w", err)
	}
	return nil
}

func (s *docStore) path(sum []byte) string {
	h := hex.EncodeToString(sum)
	return filepath.Join(s.dir, h[:2], h)
}

// checkName validates a file name and returns its extension.
func (s *docStore) checkName(name string) (string, error) {
	if err := hub.CheckFilename("filename", name); err != nil {
		return "", err
	}
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(name), "."))
	if !slices.Contains(s.types, ext) {
		return "", &hub.Error{Code: hub.EUnprocessable, Field: "filename",
			Message: fmt.Sprintf("file type %q is not allowed (allowed: %s)", ext, strings.Join(s.types, ", ")),
			Details: map[string]any{"allowed": s.types}}
	}
	return ext, nil
}

// stored is a document content written to the store.
type stored struct {
	sum   []byte
	size  int64
	pages *int
}

// put streams r into the store, hashing it on the way. It refuses content
// over the limit (413) and content that does not look like ext (422); a
// refused upload leaves nothing behind.
func (s *docStore) put(r io.Reader, ext string) (*stored, error) {
	tmp, err := os.CreateTemp(s.dir, ".upload-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // no-op once renamed
	}()
	h := sha256.New()
	head := &headWriter{n: 8}
	n, err := io.Copy(io.MultiWriter(tmp, h, head), io.LimitReader(r, s.max+1))
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "upload interrupted: %v", err)
	}
	if n > s.max {
		return nil, tooLarge(s.max)
	}
	if n == 0 {
		return nil, hub.FieldError("body", "the file is empty")
	}
	if !bytes.HasPrefix(head.b, docFormats[ext].magic) {
		return nil, &hub.Error{Code: hub.EUnprocessable, Field: "filename",
			Message: fmt.Sprintf("the content is not a .%s file", ext)}
	}
	st := &stored{sum: h.Sum(nil), size: n}
	if ext == "pdf" {
		if _, err := tmp.Seek(0, io.SeekStart); err == nil {
			st.pages = pdfPages(tmp)
		}
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	dst := s.path(st.sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return nil, err
	}
	if _, err := os.Stat(dst); err == nil {
		return st, nil // same content already stored
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return nil, err
	}
	return st, nil
}

func tooLarge(max int64) error {
	return &hub.Error{Code: hub.ETooLarge, Field: "body",
		Message: fmt.Sprintf("the file is larger than the limit of %s", humanBytes(max)), Details: map[string]any{"limit": max}}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// headWriter keeps the first n bytes written to it.
type headWriter struct {
	n int
	b []byte
}

func (w *headWriter) Write(p []byte) (int, error) {
	if k := w.n - len(w.b); k > 0 {
		w.b = append(w.b, p[:min(k, len(p))]...)
	}
	return len(p), nil
}

var pdfPageRE = regexp.MustCompile(`/Type\s*/Page\b`)

// pdfPages counts page objects in an uncompressed PDF cross-section; nil when
// it finds none (pages in compressed object streams are not counted).
func pdfPages(r io.Reader) *int {
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil
	}
	n := len(pdfPageRE.FindAllIndex(b, -1))
	if n == 0 {
		return nil
	}
	return &n
}

// Document is an agenda item's document with its versions, newest last.
type Document struct {
	ID       int64        `json:"id"`
	Meeting  int64        `json:"meeting"`
	Item     *int64       `json:"item"`
	Title    string       `json:"title"`
	Versions []DocVersion `json:"versions"`
}

// DocVersion is one uploaded version of a document.
type DocVersion struct {
	Version     int       `json:"version"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Pages       *int      `json:"pages"`
	UploadedAt  time.Time `json:"uploaded_at"`
	sum         []byte
}

// UploadInput describes an upload. Doc 0 creates a document on Item (0: a
// document of the whole meeting); otherwise the upload is a new version of Doc.
type UploadInput struct {
	Doc      int64
	Item     int64
	Title    string
	Filename string
	By       *hub.Principal
}

// Upload stores a document version from r: the file first (hashed and
// checked as it streams), then its record, in one transaction that logs it.
func (p *Proceedings) Upload(ctx context.Context, meetingID int64, in UploadInput, r io.Reader, declared int64) (*Document, error) {
	ext, err := p.docs.checkName(in.Filename)
	if err != nil {
		return nil, err
	}
	if declared > p.docs.max {
		return nil, tooLarge(p.docs.max)
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		in.Title = strings.TrimSuffix(in.Filename, filepath.Ext(in.Filename))
	}
	if utf8.RuneCountInString(in.Title) > 300 {
		return nil, hub.FieldError("title", "at most 300 characters")
	}
	m, err := p.Meeting(ctx, meetingID)
	if err != nil {
		return nil, err
	}
	if m.State == MeetingClosed || m.State == MeetingCancelled {
		return nil, hub.Errorf(hub.EConflict, "meeting %d is %s; documents cannot change", meetingID, m.State)
	}
	st, err := p.docs.put(r, ext)
	if err != nil {
		return nil, err
	}
	var uploader *int64
	if in.By != nil && in.By.Kind == "user" {
		uploader = &in.By.ID
	}
	docID := in.Doc
	err = p.exec(ctx, meetingID, func(c *cmd) error {
		if c.m.State == MeetingClosed || c.m.State == MeetingCancelled {
			return hub.Errorf(hub.EConflict, "meeting %d is %s; documents cannot change", meetingID, c.m.State)
		}
		var item *int64
		if docID == 0 {
			if in.Item != 0 {
				if c.item(in.Item) == nil {
					return hub.FieldError("item", "no agenda item %d in meeting %d", in.Item, meetingID)
				}
				item = &in.Item
			}
			var err error
			if docID, err = insertDocument(ctx, c.tx, meetingID, item, in.Title); err != nil {
				return err
			}
		} else {
			var err error
			item, in.Title, err = lockDocument(ctx, c.tx, meetingID, docID)
			if errors.Is(err, pgx.ErrNoRows) {
				return hub.Errorf(hub.ENotFound, "no document %d in meeting %d", docID, meetingID)
			}
			if err != nil {
				return err
			}
		}
		version, err := insertDocVersion(ctx, c.tx, docID, in.Filename, docFormats[ext].mime, st, uploader, c.now)
		if err != nil {
			return err
		}
		ev := evDocUploaded{Doc: docID, Version: version, Title: in.Title, Filename: in.Filename, Size: st.size, SHA256: hex.EncodeToString(st.sum)}
		if item != nil {
			ev.Item = *item
		}
		return c.emit(EvDocUploaded, 0, ev)
	})
	if err != nil {
		return nil, err
	}
	return p.Document(ctx, meetingID, docID)
}

// Documents lists a meeting's documents with their versions.
func (p *Proceedings) Documents(ctx context.Context, meetingID int64) ([]*Document, error) {
	return loadDocuments(ctx, p.pool, meetingID, 0)
}

// Document returns one document.
func (p *Proceedings) Document(ctx context.Context, meetingID, docID int64) (*Document, error) {
	docs, err := loadDocuments(ctx, p.pool, meetingID, docID)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, hub.Errorf(hub.ENotFound, "no document %d in meeting %d", docID, meetingID)
	}
	return docs[0], nil
}

// openVersion opens a stored version's content.
func (p *Proceedings) openVersion(ctx context.Context, meetingID, docID int64, version int) (*DocVersion, *os.File, error) {
	v, err := docVersion(ctx, p.pool, meetingID, docID, version)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p.docs.path(v.sum))
	if err != nil {
		return nil, nil, fmt.Errorf("document %d v%d content (%s): %w", docID, v.Version, v.SHA256, err)
	}
	return v, f, nil
}
