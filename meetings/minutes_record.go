package meetings

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/communehub/communehub/hub"
)

// The formats of signed minutes (docs/minutes-format.md). The hub signs v2:
// Ed25519 over the RFC 8785 (JCS) canonical JSON of the whole document but
// its signature. v1, signed before, covers the SHA-256 of the text only; a
// v1 copy still verifies, reported as "text only".
const (
	MinutesFormat   = "communehub-minutes-v2"
	MinutesFormatV1 = "communehub-minutes-v1"
)

// Scopes of a valid signature (Verification.Covers).
const (
	CoversWholeRecord = "whole record"
	CoversTextOnly    = "text only"
)

// SignedMinutes is frozen minutes as served and verified. Every member but
// signature is what v2 signs; unit_name, starts_at, opened_at and
// closed_at are v2 only. Times are RFC 3339 in UTC, kept as the strings
// that were signed. PublicKey is the signing key (base64): in v2 it is
// signed too, yet a verifier trusts only keys it already knows.
type SignedMinutes struct {
	Format     string `json:"format"`
	KeyID      string `json:"key_id"`
	PublicKey  string `json:"public_key"`
	Meeting    int64  `json:"meeting"`
	Unit       string `json:"unit"`
	UnitName   string `json:"unit_name,omitempty"`
	Title      string `json:"title"`
	StartsAt   string `json:"starts_at,omitempty"`
	OpenedAt   string `json:"opened_at,omitempty"`
	ClosedAt   string `json:"closed_at,omitempty"`
	Revision   int    `json:"revision"`
	ApprovedBy string `json:"approved_by"`
	ApprovedAt string `json:"approved_at"`
	Text       string `json:"text"`
	SHA256     string `json:"sha256"`
	Signature  string `json:"signature,omitempty"`
}

// v1Signed are the members a v1 signature covers (through the text's
// digest); v1Unsigned are those it shows but does not cover.
var (
	v1Signed   = []string{"text", "sha256"}
	v1Unsigned = []string{"format", "key_id", "public_key", "meeting", "unit", "title", "revision", "approved_by", "approved_at"}
)

// minutesTime is how a time is written in signed minutes.
func minutesTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Fingerprint is the hex SHA-256 of a raw Ed25519 public key; KeyID is its
// first 16 digits.
func Fingerprint(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:])
}

// SignMinutes signs m as the hub signs approved minutes: it fills in the
// format (v2), key and digest, signs the canonical record and returns the
// record, the exact message signed.
func (s *Signer) SignMinutes(m *SignedMinutes) ([]byte, error) { return signMinutesV2(m, s) }

func signMinutesV2(m *SignedMinutes, s *Signer) ([]byte, error) {
	m.Format, m.KeyID = MinutesFormat, s.KeyID()
	m.PublicKey = base64.StdEncoding.EncodeToString(s.PublicKey())
	sum := sha256.Sum256([]byte(m.Text))
	m.SHA256 = hex.EncodeToString(sum[:])
	m.Signature = ""
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	rec, err := canonicalRecord(raw)
	if err != nil {
		return nil, err
	}
	m.Signature = base64.StdEncoding.EncodeToString(s.Sign(rec))
	return rec, nil
}

// canonicalRecord is the message a v2 signature signs: the JSON object
// doc, its "signature" member removed, in RFC 8785 canonical form. A
// document with a duplicate member name or invalid UTF-8 has none.
func canonicalRecord(doc []byte) ([]byte, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(doc))
	var out bytes.Buffer
	enc := jsontext.NewEncoder(&out)
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return nil, err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String()
		val, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		if name == "signature" {
			continue
		}
		if err := enc.WriteToken(jsontext.String(name)); err != nil {
			return nil, err
		}
		if err := enc.WriteValue(val); err != nil {
			return nil, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if err := enc.WriteToken(jsontext.EndObject); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err == nil {
		return nil, fmt.Errorf("data after the JSON object")
	}
	v := jsontext.Value(bytes.TrimSpace(out.Bytes()))
	if err := v.Canonicalize(); err != nil {
		return nil, err
	}
	return v, nil
}

// Verification is the outcome of verifying a copy of signed minutes. Covers
// says what a valid signature vouches for: "whole record" (v2: Signed
// lists every member) or "text only" (v1: the members in Unsigned are shown
// but anyone could have changed them).
type Verification struct {
	Valid       bool     `json:"valid"`
	Reason      string   `json:"reason"`
	Format      string   `json:"format"`
	Covers      string   `json:"covers,omitempty"`
	Signed      []string `json:"signed_fields,omitempty"`
	Unsigned    []string `json:"unsigned_fields,omitempty"`
	Source      string   `json:"source"` // json, or pdf: the JSON embedded in a PDF
	Meeting     int64    `json:"meeting"`
	KeyID       string   `json:"key_id"`
	Fingerprint string   `json:"fingerprint,omitempty"` // of the trusted key that verified
	SHA256      string   `json:"sha256"`
	Pages       string   `json:"pdf_pages,omitempty"` // for a PDF whose embedded minutes are genuine
}

// What a PDF's pages are (Verification.Pages).
const (
	PagesRendered = "the hub's rendering of the signed record"
	PagesDiffer   = "not the hub's rendering of the signed record"
)

// Verify checks signed minutes as they stand (re-encoded as served)
// against the trusted keys.
func (m *SignedMinutes) Verify(trusted map[string]ed25519.PublicKey) Verification {
	raw, err := json.Marshal(m)
	if err != nil {
		return Verification{Reason: err.Error(), Source: "json"}
	}
	return verifyMinutes(m, raw, trusted)
}

// verifyMinutes checks m, decoded from the JSON document raw, against the
// trusted keys named by their KeyID.
func verifyMinutes(m *SignedMinutes, raw []byte, trusted map[string]ed25519.PublicKey) Verification {
	v := Verification{Meeting: m.Meeting, KeyID: m.KeyID, Format: m.Format, Source: "json"}
	sum := sha256.Sum256([]byte(m.Text))
	v.SHA256 = hex.EncodeToString(sum[:])
	var msg []byte
	switch m.Format {
	case MinutesFormat:
		rec, err := canonicalRecord(raw)
		if err != nil {
			v.Reason = "the document has no canonical form (" + err.Error() + ")"
			return v
		}
		msg = rec
		v.Covers, v.Signed = CoversWholeRecord, recordMembers(rec)
	case MinutesFormatV1:
		msg = sum[:]
		v.Covers, v.Signed, v.Unsigned = CoversTextOnly, v1Signed, v1Unsigned
	default:
		v.Reason = fmt.Sprintf("unknown format %q (want %s or %s)", m.Format, MinutesFormat, MinutesFormatV1)
		return v
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	pub, known := trusted[m.KeyID]
	switch {
	case m.SHA256 != v.SHA256:
		v.Reason = "the text does not match its SHA-256: the minutes were changed after signing"
	case err != nil || len(sig) != ed25519.SignatureSize:
		v.Reason = "the signature is not a base64 Ed25519 signature"
	case !known:
		v.Reason = fmt.Sprintf("signed by key %q, which this hub does not know", m.KeyID)
	case !ed25519.Verify(pub, msg, sig):
		if m.Format == MinutesFormat {
			v.Reason = "the signature does not match: a field of the minutes was changed after signing"
		} else {
			v.Reason = "the signature does not match: the minutes or their digest were changed after signing"
		}
	default:
		v.Valid, v.Fingerprint = true, Fingerprint(pub)
		if m.Format == MinutesFormat {
			v.Reason = "the whole record is exactly what the hub signed: " + strings.Join(v.Signed, ", ")
		} else {
			v.Reason = "the text is exactly what the hub signed; the signature (" + MinutesFormatV1 +
				") does not cover " + strings.Join(v1Unsigned, ", ")
		}
	}
	if !v.Valid {
		v.Covers, v.Signed, v.Unsigned = "", nil, nil
	}
	return v
}

// recordMembers lists a canonical record's member names, sorted.
func recordMembers(rec []byte) []string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rec, &obj); err != nil {
		return nil
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// maxMinutesDoc bounds a copy of signed minutes given to the verifier.
const maxMinutesDoc = 16 << 20

// DecodeSignedMinutes parses signed minutes strictly.
func DecodeSignedMinutes(b []byte) (*SignedMinutes, error) {
	var s SignedMinutes
	if err := hub.DecodeJSON(b, &s); err != nil {
		return nil, err
	}
	if s.Format == "" {
		return nil, hub.FieldError("format", "is required (%s)", MinutesFormat)
	}
	if s.SHA256 == "" {
		return nil, hub.FieldError("sha256", "is required")
	}
	if s.Signature == "" {
		return nil, hub.FieldError("signature", "is required")
	}
	if s.KeyID == "" {
		return nil, hub.FieldError("key_id", "is required")
	}
	if s.Format == MinutesFormat {
		for _, f := range []struct{ name, val string }{{"public_key", s.PublicKey}, {"unit", s.Unit}, {"title", s.Title},
			{"approved_at", s.ApprovedAt}, {"text", s.Text}} {
			if f.val == "" {
				return nil, hub.FieldError(f.name, "is required in %s", MinutesFormat)
			}
		}
	}
	for _, f := range []struct{ name, val string }{{"approved_at", s.ApprovedAt}, {"starts_at", s.StartsAt},
		{"opened_at", s.OpenedAt}, {"closed_at", s.ClosedAt}} {
		if f.val == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, f.val); err != nil {
			return nil, hub.FieldError(f.name, "must be an RFC 3339 time")
		}
	}
	return &s, nil
}

// MinutesCopy is a copy of signed minutes given to a verifier: the JSON
// document, or a PDF export carrying it.
type MinutesCopy struct {
	Minutes *SignedMinutes
	JSON    []byte // the document as received (from the PDF if PDF is set)
	PDF     []byte
}

// ParseMinutesCopy reads a copy of signed minutes: the JSON of GET
// /meetings/{id}/minutes, or the PDF of GET /meetings/{id}/minutes.pdf
// (its embedded JSON).
func ParseMinutesCopy(b []byte) (*MinutesCopy, error) {
	if len(b) > maxMinutesDoc {
		return nil, hub.FieldError("body", "is larger than %d MiB", maxMinutesDoc>>20)
	}
	c := &MinutesCopy{JSON: b}
	if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("%PDF-")) {
		doc, err := minutesFromPDF(b)
		if err != nil {
			return nil, err
		}
		c.JSON, c.PDF = doc, b
	}
	m, err := DecodeSignedMinutes(c.JSON)
	if err != nil {
		if c.PDF != nil {
			return nil, hub.FieldError("body", "the PDF's embedded minutes are not signed minutes: %v", err)
		}
		return nil, err
	}
	c.Minutes = m
	return c, nil
}

// Verify checks the copy against the trusted keys. For a PDF, the embedded
// JSON is verified and the pages too: they must be exactly what the hub
// renders from that JSON, or a reader of the pages could be shown other
// minutes than the signed ones.
func (c *MinutesCopy) Verify(trusted map[string]ed25519.PublicKey) Verification {
	v := verifyMinutes(c.Minutes, c.JSON, trusted)
	if c.PDF == nil {
		return v
	}
	v.Source = "pdf"
	if !v.Valid {
		return v
	}
	again, err := RenderMinutesPDF(c.Minutes, v)
	if err == nil && bytes.Equal(again, c.PDF) {
		v.Pages = PagesRendered
		v.Reason += " (read from the JSON embedded in the PDF; the PDF's pages are exactly the hub's rendering of it)"
		return v
	}
	v.Valid, v.Pages = false, PagesDiffer
	v.Covers, v.Signed, v.Unsigned = "", nil, nil
	v.Reason = "the minutes embedded in the PDF (" + MinutesPDFName(c.Minutes.Meeting) + ") are genuine, but the PDF is not " +
		"the hub's rendering of them: its pages may have been edited; rely on the embedded JSON, not on the pages"
	return v
}
