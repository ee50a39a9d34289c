package hub_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
)

// encoding/json would decode invalid UTF-8 and lone surrogate escapes as
// U+FFFD; DecodeJSON refuses them and names the field.
func TestDecodeJSONRefusesInvalidText(t *testing.T) {
	t.Parallel()
	type item struct {
		Role string `json:"role"`
	}
	type in struct {
		Name  string            `json:"name"`
		Items []item            `json:"items"`
		Tags  []string          `json:"tags"`
		Meta  map[string]string `json:"meta"`
	}
	tests := []struct {
		body, field string // field "" means accepted
	}{
		{`{"name":"Lò Văn A"}`, ""},
		{`{"name":"\ud83d\ude00 \u00e0 \\ud800"}`, ""}, // a pair, an escape, an escaped backslash
		{`{"name":"a` + "\xff" + `"}`, "name"},
		{`{"name":"` + "\xc3" + `"}`, "name"},
		{`{"name":"\ud800"}`, "name"},
		{`{"name":"\udc00\ud800"}`, "name"},
		{`{"name":"\ud800\u0041"}`, "name"},
		{`{"items":[{"role":"ok"},{"role":"` + "\xed\xa0\x80" + `"}]}`, "items[1].role"},
		{`{"tags":["a","b","` + "\xfe" + `"]}`, "tags[2]"},
		{`{"meta":{"` + "k\xff" + `":"v"}}`, "meta.k\ufffd"},
		{`{"meta":{"k":"v","x":"\udfff"}}`, "meta.x"},
	}
	for _, tt := range tests {
		var v in
		err := hub.DecodeJSON([]byte(tt.body), &v)
		var e *hub.Error
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%q refused: %v", tt.body, err)
		case tt.field != "" && (err == nil || hub.ErrorCode(err) != hub.EInvalid):
			t.Errorf("%q: %v, want 400 naming %s (decoded %+v)", tt.body, err, tt.field, v)
		case tt.field != "" && (!asError(err, &e) || e.Field != tt.field):
			t.Errorf("%q names %q, want %q", tt.body, e.Field, tt.field)
		}
	}
}

func asError(err error, e **hub.Error) bool {
	x, ok := err.(*hub.Error)
	*e = x
	return ok
}

// Through the shared binding: a route answers 400 naming the field.
func TestBindJSONRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	_, tok, _ := h.auth.CreateToken(context.Background(), "x", hub.RoleOfficer, "")
	r := h.do(t, "POST", "/api/v1/echo", []byte(`{"count":1,"name":"Nguy`+"\xea\xff"+`n"}`), map[string]string{"Authorization": "Bearer " + tok})
	if code, f := errField(r); r.status != 400 || code != hub.EInvalid || f != "name" {
		t.Errorf("invalid UTF-8 = %d %s/%s %v", r.status, code, f, r.body)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"name":"\ud800"}`, `{"items":[{"role":"` + "\xff" + `"}]}`, `{"a":`, `[1,"\udc00"]`,
		`{"name":"\ud83d\ude00"}`, `{"meta":{"` + "\xc3" + `":1}}`, `"\\u"`, `{"name":"\u12"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		err := hub.DecodeJSON(b, &v)
		if err == nil {
			if !utf8.Valid(b) {
				t.Fatalf("accepted invalid UTF-8 %q", b)
			}
			out, _ := json.Marshal(v)
			if strings.Contains(string(out), "\ufffd") && !strings.Contains(string(b), "\ufffd") && !strings.Contains(strings.ToLower(string(b)), `\ufffd`) {
				t.Fatalf("%q decoded with a replacement character: %s", b, out)
			}
			return
		}
		if hub.ErrorCode(err) != hub.EInvalid {
			t.Fatalf("%q: %v", b, err)
		}
	})
}
