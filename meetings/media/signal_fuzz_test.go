package media

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/communehub/communehub/meetings"
)

func TestParseSignal(t *testing.T) {
	ok := []string{
		`{"type":"offer","sdp":"v=0","sources":{"0":"mic","1":"camera","2":"screen"}}`,
		`{"type":"answer","sdp":"v=0"}`,
		`{"type":"candidate","target":"down","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"candidate","target":"up","candidate":{"candidate":""}}`,
		`{"type":"mute","source":"camera","muted":false}`,
		`{"type":"quality","audioOnly":true}`,
		`{"type":"quality","dataSaver":true}`,
		`{"type":"quality","audioOnly":false,"dataSaver":false}`,
		`{"type":"leave"}`,
		`{"type":"ping"}`,
	}
	for _, s := range ok {
		if _, err := parseSignal([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"type":"offer"}`: "invalid",
		`{"type":"offer","sdp":"x","sources":{"0":"speaker"}}`: "invalid",
		`{"type":"candidate","target":"up"}`:                   "invalid",
		`{"type":"candidate","target":"x","candidate":{}}`:     "invalid",
		`{"type":"mute","source":"mic"}`:                       "invalid",
		`{"type":"quality"}`:                                   "invalid",
		`{"type":"quality","dataSaver":"yes"}`:                 "invalid",
		`{"type":"dance"}`:                                     "unknown_type",
		`{"type":"ping","extra":1}`:                            "invalid",
		`{"type":"ping"} {"type":"ping"}`:                      "invalid",
		`{"type":"answer","sdp":5}`:                            "invalid",
	}
	for s, code := range bad {
		_, err := parseSignal([]byte(s))
		se, isSig := err.(*signalError)
		if !isSig || se.Code != code {
			t.Errorf("%s: %v, want %s", s, err, code)
		}
	}
	for _, s := range []string{``, `[]`, `"offer"`, `{"type":""}`, `{"type":1}`, "\xff\xfe", `{"type":"` + strings.Repeat("a", 50) + `"}`} {
		if _, err := messageType([]byte(s)); err == nil {
			t.Errorf("messageType(%q) accepted", s)
		}
	}
	if _, err := messageType([]byte(`{"type":"x","pad":"` + strings.Repeat("a", maxSignalMessage) + `"}`)); err == nil {
		t.Error("oversized message accepted")
	}
}

func TestFrame(t *testing.T) {
	for _, c := range []struct {
		typ  string
		body any
		want string
	}{
		{"pong", nil, `{"type":"pong"}`},
		{"answer", map[string]string{"sdp": "x"}, `{"type":"answer","sdp":"x"}`},
		{"bye", struct{}{}, `{"type":"bye"}`},
		{"q\"", struct {
			A int `json:"a"`
		}{1}, `{"type":"q\"","a":1}`},
	} {
		if got := string(frame(c.typ, c.body)); got != c.want {
			t.Errorf("frame(%q) = %s, want %s", c.typ, got, c.want)
		}
	}
}

// FuzzSignalMessage: whatever a client sends, parsing never panics, only
// known types are accepted, and an accepted message survives a round trip.
func FuzzSignalMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"offer","sdp":"v=0","sources":{"0":"mic"}}`,
		`{"type":"candidate","target":"down","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"mute","source":"mic","muted":true}`,
		`{"type":"quality","audioOnly":false}`,
		`{"type":"quality","dataSaver":true}`,
		`{"type":"vote.cast","vote":1,"choice":"yes"}`,
		`{"type":"leave"}`, `{}`, `null`, `{"type":"offer","sdp":"` + strings.Repeat("v", 100) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, err := messageType(b)
		if err != nil {
			return
		}
		if meetings.IsProceedingsType(typ) {
			_, _ = meetings.ParseProcMessage(b)
			return
		}
		m, err := parseSignal(b)
		if err != nil {
			if _, ok := err.(*signalError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if m.Type != typ {
			t.Fatalf("type %q parsed as %q", typ, m.Type)
		}
		again, err := parseSignal(frame(m.Type, m))
		if err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
		a, _ := json.Marshal(m)
		b2, _ := json.Marshal(again)
		if string(a) != string(b2) {
			t.Fatalf("round trip changed %s into %s", a, b2)
		}
	})
}
