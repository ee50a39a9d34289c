package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/communehub/communehub/meetings"
)

func writeSigned(t *testing.T, dir string, s *meetings.Signer, text string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(text))
	m := meetings.SignedMinutes{Format: meetings.MinutesFormat, Meeting: 7, Text: text, SHA256: hex.EncodeToString(sum[:]),
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
	if code, out, _ := run("minutes", "verify", file); code != 0 || !strings.HasPrefix(out, "VALID") {
		t.Fatalf("genuine copy: exit %d, %q", code, out)
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
