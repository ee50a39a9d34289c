package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/communehub/communehub/meetings"
)

// writeSigned writes minutes signed as v1 hubs signed them: the text only.
func writeSigned(t *testing.T, dir string, s *meetings.Signer, text string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(text))
	m := meetings.SignedMinutes{Format: meetings.MinutesFormatV1, Meeting: 7, Text: text, SHA256: hex.EncodeToString(sum[:]),
		Signature: base64.StdEncoding.EncodeToString(s.Sign(sum[:])), KeyID: s.KeyID()}
	b, _ := json.Marshal(m)
	p := filepath.Join(dir, "bien-ban.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMinutesVerifyCommand(t *testing.T) {
	data := t.TempDir()
	signer, err := meetings.LoadOrCreateSigner(data)
	if err != nil {
		t.Fatal(err)
	}
	file := writeSigned(t, t.TempDir(), signer, "BIÊN BẢN\nKết quả: THÔNG QUA\n")
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"--data-dir", data, "--log-format", "text"}, args...),
			func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, _ := run("minutes", "verify", file); code != 0 || !strings.HasPrefix(out, "VALID (text only)") {
		t.Fatalf("genuine copy: exit %d, %q", code, out)
	}
	// A v1 signature does not cover the meeting: the command says so
	// instead of vouching for "minutes of meeting 999".
	b999, _ := os.ReadFile(file)
	moved := filepath.Join(t.TempDir(), "999.json")
	os.WriteFile(moved, bytes.Replace(b999, []byte(`"meeting":7`), []byte(`"meeting":999`), 1), 0o644)
	if code, out, _ := run("minutes", "verify", moved); code != 0 || !strings.HasPrefix(out, "VALID (text only)") ||
		!strings.Contains(out, "NOT covered by the signature") || strings.Contains(out, "minutes of meeting 999") {
		t.Fatalf("v1 copy with another meeting: exit %d, %q", code, out)
	}

	b, _ := os.ReadFile(file)
	tampered := filepath.Join(t.TempDir(), "sua.json")
	os.WriteFile(tampered, bytes.Replace(b, []byte("THÔNG QUA"), []byte("KHÔNG THÔNG QUA"), 1), 0o644)
	if code, out, _ := run("minutes", "verify", tampered); code != 1 || !strings.Contains(out, "INVALID") {
		t.Fatalf("tampered copy: exit %d, %q", code, out)
	}

	// Minutes of another hub verify with its public key given by --key.
	otherDir := t.TempDir()
	other, _ := meetings.LoadOrCreateSigner(otherDir)
	foreign := writeSigned(t, t.TempDir(), other, "BIÊN BẢN khác\n")
	der, _ := x509.MarshalPKIXPublicKey(other.PublicKey())
	keyFile := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	if code, out, _ := run("minutes", "verify", foreign, "--key", keyFile); code != 0 {
		t.Fatalf("foreign copy with its key: exit %d, %q", code, out)
	}
	if code, _, _ := run("minutes", "verify", foreign, "--key", filepath.Join(data, "nope.pem")); code != 1 {
		t.Fatalf("a missing key file: exit %d", code)
	}
	for _, args := range [][]string{{"minutes"}, {"minutes", "sign", file}, {"minutes", "verify"}} {
		if code, _, _ := run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
	notMinutes := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(notMinutes, []byte(`{"hello":1}`), 0o644)
	if code, _, _ := run("minutes", "verify", notMinutes); code != 1 {
		t.Errorf("not minutes: exit %d", code)
	}
}

func TestMeetingSettings(t *testing.T) {
	for _, tc := range []struct {
		env, val string
		ok       bool
	}{
		{"COMMUNEHUB_MEETING_DOC_MAX", "20MiB", true},
		{"COMMUNEHUB_MEETING_DOC_MAX", "1048576", true},
		{"COMMUNEHUB_MEETING_DOC_MAX", "2GiB", false},
		{"COMMUNEHUB_MEETING_DOC_MAX", "lots", false},
		{"COMMUNEHUB_MEETING_DOC_TYPES", "pdf,docx", true},
		{"COMMUNEHUB_MEETING_DOC_TYPES", "pdf,exe", false},
		{"COMMUNEHUB_MEETING_RECONNECT_GRACE", "2m", true},
		{"COMMUNEHUB_MEETING_RECONNECT_GRACE", "1s", false},
	} {
		cfg, _, err := ParseConfig(nil, func(k string) string {
			if k == tc.env {
				return tc.val
			}
			return ""
		})
		if (err == nil) != tc.ok {
			t.Errorf("%s=%s: %v", tc.env, tc.val, err)
		}
		if err != nil && !strings.Contains(err.Error(), tc.env) {
			t.Errorf("%s=%s: the error does not name the setting: %v", tc.env, tc.val, err)
		}
		if err == nil && tc.env == "COMMUNEHUB_MEETING_DOC_MAX" {
			if pc := proceedingsConfig(cfg); pc.DocMaxBytes != map[string]int64{"20MiB": 20 << 20, "1048576": 1 << 20}[tc.val] {
				t.Errorf("%s: %d bytes", tc.val, pc.DocMaxBytes)
			}
		}
	}
}

// tamperEachMember returns, for every member of the JSON document doc but
// signature, a copy with that member's value changed.
func tamperEachMember(t *testing.T, doc []byte) map[string][]byte {
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
		c := maps.Clone(obj)
		switch x := v.(type) {
		case float64:
			c[k] = x + 957
		case string:
			switch {
			case strings.HasSuffix(k, "_at"):
				c[k] = strings.Replace(x, "T0", "T1", 1)
			case k == "key_id" || k == "sha256":
				c[k] = strings.Repeat("0", len(x))
			case k == "format":
				c[k] = meetings.MinutesFormatV1
			default:
				c[k] = x + "!"
			}
		}
		out[k], _ = json.Marshal(c)
	}
	return out
}

// A v2 copy whose meeting, unit, title, approver, approval time, revision
// or any other member was changed is INVALID (exit 1); so is a PDF export
// whose embedded JSON was changed. The genuine JSON and PDF are VALID.
func TestMinutesVerifyCoversWholeRecord(t *testing.T) {
	data := t.TempDir()
	signer, err := meetings.LoadOrCreateSigner(data)
	if err != nil {
		t.Fatal(err)
	}
	m := &meetings.SignedMinutes{Meeting: 42, Unit: "03244", UnitName: "Xã Sáng Nhè", Title: "Phiên họp thường kỳ",
		StartsAt: "2026-12-01T01:00:00Z", OpenedAt: "2026-12-01T01:02:00Z", ClosedAt: "2026-12-01T02:00:00Z",
		Revision: 3, ApprovedBy: "Lò Văn Minh", ApprovedAt: "2026-12-01T03:00:00.5Z", Text: "BIÊN BẢN\nKết quả: THÔNG QUA\n"}
	if _, err := signer.SignMinutes(m); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(m)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"--data-dir", data, "--log-format", "text"}, args...),
			func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run("minutes", "verify", write("v2.json", doc)); code != 0 || !strings.HasPrefix(out, "VALID: minutes of meeting 42") ||
		!strings.Contains(out, "covers the whole record") {
		t.Fatalf("genuine v2 copy: exit %d, %q", code, out)
	}
	// --key: the hub's own key, so that an unknown key id is not looked up in a database.
	der, _ := x509.MarshalPKIXPublicKey(signer.PublicKey())
	keyFile := write("hub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	tampered := tamperEachMember(t, doc)
	for _, f := range []string{"meeting", "unit", "title", "approved_by", "approved_at", "revision", "text", "unit_name", "starts_at"} {
		if tampered[f] == nil {
			t.Fatalf("the document has no member %s", f)
		}
	}
	for f, b := range tampered {
		if code, out := run("minutes", "verify", write(f+".json", b), "--key", keyFile); code != 1 || !strings.HasPrefix(out, "INVALID") {
			t.Errorf("%s changed: exit %d, %q", f, code, out)
		}
	}

	pdf, err := meetings.RenderMinutesPDF(m, m.Verify(map[string]ed25519.PublicKey{signer.KeyID(): signer.PublicKey()}))
	if err != nil {
		t.Fatal(err)
	}
	if code, out := run("minutes", "verify", write("bien-ban.pdf", pdf)); code != 0 || !strings.HasPrefix(out, "VALID: minutes of meeting 42") ||
		!strings.Contains(out, "embedded in the PDF") {
		t.Fatalf("genuine PDF: exit %d, %q", code, out)
	}
	forged := *m
	forged.Title = "Phiên họp bất thường"
	fake, _ := meetings.RenderMinutesPDF(&forged, m.Verify(map[string]ed25519.PublicKey{signer.KeyID(): signer.PublicKey()}))
	if code, out := run("minutes", "verify", write("sua.pdf", fake)); code != 1 || !strings.Contains(out, "INVALID") {
		t.Fatalf("PDF with edited embedded JSON: exit %d, %q", code, out)
	}
}
