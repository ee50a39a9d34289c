package hub_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
)

func TestCheckFilename(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"bao-cao.pdf", "Biên bản họp tháng 3.docx", "a.b.c.pdf", strings.Repeat("ă", 251) + ".pdf"} {
		if err := hub.CheckFilename("filename", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a\r\nb.pdf", "a\nb.pdf", "a\tb.pdf", "a\x00.pdf", "a\x7f.pdf", "a\u0085.pdf", "../x.pdf", `..\x.pdf`,
		"x\u202efdp.pdf", "x\u2067.pdf", ".", "..", " a.pdf", "a.pdf ", "\xff.pdf", strings.Repeat("a", 252) + ".pdf"} {
		err := hub.CheckFilename("filename", bad)
		if e, ok := err.(*hub.Error); !ok || e.Code != hub.EInvalid || e.Field != "filename" {
			t.Errorf("%q: %v, want 400 naming filename", bad, err)
		}
	}
}

func FuzzCheckFilename(f *testing.F) {
	for _, s := range []string{"bao-cao.pdf", "a\r\nb.pdf", "x\u202efdp.pdf", "..", "Biên bản.docx", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if hub.CheckFilename("filename", name) != nil {
			return
		}
		if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > hub.MaxFilename || strings.ContainsAny(name, `/\`) {
			t.Fatalf("accepted %q", name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("accepted %q with U+%04X", name, r)
			}
		}
	})
}
