package meetings

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tamperEach returns, for every member of the JSON document doc but
// signature, a copy with that member's value changed the way a forger
// would (a string edited, a number moved, a time a minute later).
func tamperEach(t testing.TB, doc []byte) map[string][]byte {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(doc, &obj); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for k, v := range obj {
		if k == "signature" {
			continue
		}
		c := map[string]any{}
		for kk, vv := range obj {
			c[kk] = vv
		}
		switch x := v.(type) {
		case float64:
			c[k] = x + 957 // meeting 42 → 999
		case string:
			switch {
			case strings.HasSuffix(k, "_at"):
				c[k] = strings.Replace(x, "T0", "T1", 1) // ten hours later, still RFC 3339
			case k == "format":
				c[k] = MinutesFormatV1
			case k == "key_id" || k == "sha256":
				c[k] = strings.Repeat("0", len(x))
			case k == "public_key":
				c[k] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
			default:
				c[k] = x + " (đã sửa)"
			}
		default:
			t.Fatalf("member %s: unexpected %T", k, v)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

// Every member a reader of v2 minutes sees is signed: changing any one of
// them in a copy gives INVALID.
func TestMinutesV2SignsEveryField(t *testing.T) {
	t.Parallel()
	m, keys := signedFixture(t)
	doc, _ := json.Marshal(m)
	cp, err := ParseMinutesCopy(doc)
	if err != nil {
		t.Fatal(err)
	}
	v := cp.Verify(keys)
	if !v.Valid || v.Covers != CoversWholeRecord || v.Format != MinutesFormat {
		t.Fatalf("genuine v2 copy: %+v", v)
	}
	want := []string{"approved_at", "approved_by", "closed_at", "format", "key_id", "meeting", "opened_at", "public_key",
		"revision", "sha256", "starts_at", "text", "title", "unit", "unit_name"}
	if !slices.Equal(v.Signed, want) {
		t.Fatalf("signed fields %v, want %v", v.Signed, want)
	}
	tampered := tamperEach(t, doc)
	if len(tampered) != len(want) {
		t.Fatalf("tampered %d members, the document has %d", len(tampered), len(want))
	}
	for field, b := range tampered {
		cp, err := ParseMinutesCopy(b)
		if err != nil {
			continue // refused outright: fine
		}
		if v := cp.Verify(keys); v.Valid {
			t.Errorf("%s changed: still %+v", field, v)
		}
	}
	// Removing a signed member, adding one, or giving one twice does not verify either.
	for name, b := range map[string][]byte{
		"without unit_name":   bytes.Replace(doc, []byte(`"unit_name":"Xã Sáng Nhè",`), nil, 1),
		"an added member":     bytes.Replace(doc, []byte(`{`), []byte(`{"note":"x",`), 1),
		"meeting twice":       bytes.Replace(doc, []byte(`{`), []byte(`{"meeting":999,`), 1),
		"meeting twice, last": bytes.Replace(doc, []byte(`"signature"`), []byte(`"meeting":999,"signature"`), 1),
	} {
		if bytes.Equal(b, doc) {
			t.Fatalf("%s: the edit did not apply", name)
		}
		if cp, err := ParseMinutesCopy(b); err == nil {
			if v := cp.Verify(keys); v.Valid {
				t.Errorf("%s: %+v", name, v)
			}
		}
	}
}

// A v1 copy (signed before v2) still verifies, as "text only", and says
// which fields nobody vouches for; a signature cannot move between formats.
func TestMinutesV1VerifiesAsTextOnly(t *testing.T) {
	t.Parallel()
	s, err := LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trusted := map[string]ed25519.PublicKey{s.KeyID(): s.PublicKey()}
	m1 := v1Fixture(t, s)
	m1.Meeting = 999 // not covered by a v1 signature
	v := m1.Verify(trusted)
	if !v.Valid || v.Covers != CoversTextOnly || !slices.Contains(v.Unsigned, "meeting") || !strings.Contains(v.Reason, "does not cover") {
		t.Fatalf("v1 copy: %+v", v)
	}
	// The v1 signature relabelled as v2, and a v2 signature relabelled v1.
	m1.Format = MinutesFormat
	if v := m1.Verify(trusted); v.Valid {
		t.Fatalf("a v1 signature verified as v2: %+v", v)
	}
	m2, keys2 := signedFixture(t)
	m2.Format = MinutesFormatV1
	if v := m2.Verify(keys2); v.Valid {
		t.Fatalf("a v2 signature verified as v1: %+v", v)
	}
}

func TestMinutesPDFRoundTrip(t *testing.T) {
	t.Parallel()
	m, keys := signedFixture(t)
	v := m.Verify(keys)
	pdf, err := RenderMinutesPDF(m, v)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := RenderMinutesPDF(m, v)
	if !bytes.Equal(pdf, again) {
		t.Error("rendering the same minutes twice gives different PDFs")
	}
	cp, err := ParseMinutesCopy(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if got := cp.Verify(keys); !got.Valid || got.Source != "pdf" || got.Covers != CoversWholeRecord || got.Pages != PagesRendered {
		t.Fatalf("PDF copy: %+v", got)
	}
	doc, _ := json.Marshal(m)
	if !bytes.Equal(cp.JSON, doc) {
		t.Fatal("the PDF's embedded JSON is not the served document")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "bien-ban.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	if dst := os.Getenv("COMMUNEHUB_MINUTES_PDF_OUT"); dst != "" {
		os.WriteFile(dst, pdf, 0o644)
	}
	text := pdfText(t, file)
	for _, want := range []string{"Biên bản họp", "Ủy ban nhân dân xã Sáng Nhè", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
		"Độc lập - Tự do - Hạnh phúc", "Phiên họp thường kỳ UBND xã tháng 12 năm 2026", "Quàng Thị Hoa", "Đi công tác huyện",
		"HỢP LỆ", "Lò Văn Minh", groupHex(v.Fingerprint)[:19], m.KeyID} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
	t.Logf("PDF %d bytes, embedded JSON %d bytes", len(pdf), len(doc))
}

// pdfText extracts a PDF's text with poppler's pdftotext; the test skips
// without it, except in CI.
func pdfText(t *testing.T, file string) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext (poppler-utils) is missing in CI")
		}
		t.Skip("pdftotext (poppler-utils) is not installed")
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", file, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// A PDF whose embedded JSON was edited, whose pages show other minutes than
// the embedded ones, or that carries a second minutes document, does not
// verify.
func TestMinutesPDFTampered(t *testing.T) {
	t.Parallel()
	m, keys := signedFixture(t)
	pdf, err := RenderMinutesPDF(m, m.Verify(keys))
	if err != nil {
		t.Fatal(err)
	}
	forged := *m
	forged.Meeting, forged.ApprovedBy = 999, "Người khác"
	fake, err := RenderMinutesPDF(&forged, m.Verify(keys))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ParseMinutesCopy(fake)
	if err != nil {
		t.Fatal(err)
	}
	if v := cp.Verify(keys); v.Valid || !strings.Contains(v.Reason, "field of the minutes was changed") {
		t.Fatalf("a PDF with edited embedded JSON: %+v", v)
	}
	// Pages showing other minutes around the genuine embedded JSON.
	genuine, _ := json.Marshal(m)
	shown := *m
	shown.Text = strings.Replace(m.Text, "KHÔNG THÔNG QUA", "THÔNG QUA", 1)
	edited, err := renderMinutesPDF(&shown, m.Verify(keys), genuine)
	if err != nil {
		t.Fatal(err)
	}
	cp, err = ParseMinutesCopy(edited)
	if err != nil {
		t.Fatal(err)
	}
	if v := cp.Verify(keys); v.Valid || v.Pages != PagesDiffer || !strings.Contains(v.Reason, "pages may have been edited") {
		t.Fatalf("a PDF whose pages were edited: %+v", v)
	}
	// An incremental update appending a second embedded minutes document.
	doc, _ := json.Marshal(forged)
	upd := append(bytes.Clone(pdf), fmt.Sprintf("\n99 0 obj\n<< /Type /EmbeddedFile /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(doc), doc)...)
	if _, err := ParseMinutesCopy(upd); err == nil || !strings.Contains(err.Error(), "2 different") {
		t.Fatalf("a PDF with two minutes documents: %v", err)
	}
	// No minutes at all, and a truncated PDF.
	if _, err := ParseMinutesCopy([]byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n")); err == nil {
		t.Fatal("a PDF without minutes was accepted")
	}
	if _, err := ParseMinutesCopy(pdf[:len(pdf)/2]); err == nil {
		t.Log("half the PDF still carries the minutes (the attachment comes first)")
	}
}

// The Python verifier of docs/minutes-format.md verifies a genuine copy
// and refuses one with another meeting: the document tells a third party
// the truth. It needs python3 with the cryptography package.
func TestMinutesFormatDocExample(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(filepath.Join("..", "docs", "minutes-format.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "```python\n")
	script, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/minutes-format.md has no python example")
	}
	if err := exec.Command("python3", "-c", "import cryptography").Run(); err != nil {
		t.Skip("python3 with the cryptography package is not installed")
	}
	m, _ := signedFixture(t)
	dir := t.TempDir()
	py := filepath.Join(dir, "verify.py")
	os.WriteFile(py, []byte(script), 0o644)
	doc, _ := json.Marshal(m)
	genuine, forged := filepath.Join(dir, "genuine.json"), filepath.Join(dir, "forged.json")
	os.WriteFile(genuine, doc, 0o644)
	os.WriteFile(forged, bytes.Replace(doc, []byte(`"meeting":42`), []byte(`"meeting":999`), 1), 0o644)
	if out, err := exec.Command("python3", py, genuine, m.PublicKey).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "VALID") {
		t.Fatalf("the documented verifier on a genuine copy: %v\n%s", err, out)
	}
	if out, err := exec.Command("python3", py, forged, m.PublicKey).CombinedOutput(); err == nil || !strings.Contains(string(out), "InvalidSignature") {
		t.Fatalf("the documented verifier on a forged copy: %v\n%s", err, out)
	}
}
