package meetings

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

func (p *Proceedings) handleDocuments(c *fiber.Ctx) error {
	id, _, err := p.ask(c)
	if err != nil {
		return err
	}
	docs, err := p.Documents(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"documents": docs, "max_bytes": p.cfg.DocMaxBytes, "types": p.cfg.DocTypes})
}

// handleUpload stores the raw request body as a document (POST
// /meetings/{id}/documents?filename=&title=&item=) or a new version of one
// (POST /meetings/{id}/documents/{doc}/versions?filename=). Staff and the
// meeting's secretary may upload.
func (p *Proceedings) handleUpload(c *fiber.Ctx) error {
	id, a, err := p.ask(c)
	if err != nil {
		return err
	}
	if !a.staff && (a.inv == nil || !a.inv.Secretary) {
		return hub.Errorf(hub.EForbidden, "only officers and the meeting's secretary upload documents")
	}
	in := UploadInput{Filename: c.Query("filename"), Title: c.Query("title"), By: a.principal}
	if in.Filename == "" {
		in.Filename, _ = url.PathUnescape(c.Get("X-Filename"))
	}
	if c.Params("doc") != "" {
		if in.Doc, err = paramID(c, "doc"); err != nil {
			return err
		}
	} else if s := c.Query("item"); s != "" {
		if in.Item, err = strconv.ParseInt(s, 10, 64); err != nil || in.Item <= 0 {
			return hub.FieldError("item", "must be an agenda item id")
		}
	}
	if ct := strings.ToLower(c.Get(fiber.HeaderContentType)); strings.HasPrefix(ct, "multipart/") {
		return hub.FieldError("Content-Type", "send the file itself as the body (curl --data-binary @file), not a multipart form")
	}
	var body io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		body = s
	} else {
		body = bytes.NewReader(c.Body())
	}
	declared := int64(c.Request().Header.ContentLength())
	doc, err := p.Upload(c.UserContext(), id, in, body, declared)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(doc)
}

// handleContent serves a document version: ETag is the content hash, Range
// requests resume interrupted downloads, and a numbered version is
// immutable so browsers cache it for good. Without a version it serves the
// latest, which a client revalidates.
func (p *Proceedings) handleContent(c *fiber.Ctx) error {
	id, _, err := p.ask(c)
	if err != nil {
		return err
	}
	doc, err := paramID(c, "doc")
	if err != nil {
		return err
	}
	version := 0
	if c.Params("v") != "" {
		v, err := paramID(c, "v")
		if err != nil {
			return err
		}
		version = int(v)
	}
	v, f, err := p.openVersion(c.UserContext(), id, doc, version)
	if err != nil {
		return err
	}
	etag := `"sha256-` + v.SHA256 + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	if version != 0 {
		c.Set(fiber.HeaderCacheControl, "private, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "private, no-cache")
	}
	disp := "attachment"
	if c.Query("inline") != "" {
		disp = "inline"
	}
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`%s; filename*=UTF-8''%s`, disp, url.PathEscape(v.Filename)))
	c.Set("X-Content-SHA256", v.SHA256)
	c.Set("X-Content-Type-Options", "nosniff")
	if etagMatch(c.Get(fiber.HeaderIfNoneMatch), etag) {
		f.Close()
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, v.ContentType)
	rng := c.Get(fiber.HeaderRange)
	if ir := c.Get(fiber.HeaderIfRange); ir != "" && ir != etag {
		rng = "" // the client holds another version: send it whole
	}
	start, end, partial, err := ParseRange(rng, v.Size)
	if err != nil {
		f.Close()
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", v.Size))
		return c.Status(fiber.StatusRequestedRangeNotSatisfiable).JSON(fiber.Map{"error": &hub.Error{
			Code: hub.EInvalid, Field: "Range", Message: err.Error()}})
	}
	if partial {
		c.Status(fiber.StatusPartialContent)
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", start, end, v.Size))
	}
	n := end - start + 1
	return c.SendStream(&sectionFile{SectionReader: io.NewSectionReader(f, start, n), f: f}, int(n))
}

// sectionFile closes its file when the response has been written.
type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionFile) Close() error { return s.f.Close() }

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// errRange is a Range header that cannot be satisfied.
type errRange string

func (e errRange) Error() string { return string(e) }

// ParseRange interprets a Range header for a body of size bytes and returns
// the inclusive byte range to send. partial is false when the whole body is
// to be sent: no header, a unit other than bytes, or several ranges (which
// the hub answers with the whole body, as RFC 9110 allows). A syntactically
// bad or unsatisfiable single range is an error (416).
func ParseRange(h string, size int64) (start, end int64, partial bool, err error) {
	whole := func() (int64, int64, bool, error) { return 0, size - 1, false, nil }
	h = strings.TrimSpace(h)
	if h == "" {
		return whole()
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return whole()
	}
	if strings.Contains(spec, ",") {
		return whole()
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false, errRange("malformed range " + strconv.Quote(h))
	}
	num := func(s string) (int64, error) {
		if s == "" || len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
			return 0, errRange("malformed range " + strconv.Quote(h))
		}
		return strconv.ParseInt(s, 10, 64)
	}
	if first == "" { // suffix: the last N bytes
		n, err := num(last)
		if err != nil {
			return 0, 0, false, err
		}
		if n == 0 || size == 0 {
			return 0, 0, false, errRange("empty suffix range")
		}
		if n >= size {
			return whole()
		}
		return size - n, size - 1, true, nil
	}
	start, err = num(first)
	if err != nil {
		return 0, 0, false, err
	}
	if start >= size {
		return 0, 0, false, errRange(fmt.Sprintf("range starts at %d, past the end (%d bytes)", start, size))
	}
	end = size - 1
	if last != "" {
		e, err := num(last)
		if err != nil {
			return 0, 0, false, err
		}
		if e < start {
			return 0, 0, false, errRange("range ends before it starts")
		}
		end = min(e, size-1)
	}
	return start, end, true, nil
}
