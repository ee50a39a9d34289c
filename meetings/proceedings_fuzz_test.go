package meetings

import (
	"testing"

	"github.com/communehub/communehub/hub"
)

func FuzzParseProcMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"vote.cast","vote":3,"choice":"yes","ref":"c1"}`,
		`{"type":"doc.show","doc":1,"page":2}`,
		`{"type":"attendance.mark","invitee":4,"status":"absent","reason":"ốm"}`,
		`{"type":"minutes.save","revision":2,"text":"BIÊN BẢN"}`,
		`{"type":"proc.sync"}`, `{"type":"vote.cast","vote":-1,"choice":"yes"}`, `{"type":7}`, `[]`, `{`, ``, `null`,
		`{"type":"hand.raise","extra":true}`, `{"type":"vote.open","question":"   "}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseProcMessage(b)
		if err != nil {
			if hub.ErrorCode(err) != hub.EInvalid {
				t.Fatalf("refusal with code %s: %v", hub.ErrorCode(err), err)
			}
			return
		}
		if _, ok := procTypes[m.Type]; !ok || !IsProceedingsType(m.Type) {
			t.Fatalf("accepted type %q", m.Type)
		}
		if m.Vote < 0 || m.Item < 0 || m.Doc < 0 || m.Page < 0 || m.Invitee < 0 || m.Revision < 0 || len(m.Ref) > 64 {
			t.Fatalf("accepted %+v", m)
		}
		if frame := replyFrame("proc.ok", m.Ref, map[string]any{}, nil); len(frame) == 0 {
			t.Fatal("no reply frame")
		}
	})
}

func FuzzDecodeSignedMinutes(f *testing.F) {
	f.Add([]byte(`{"format":"communehub-minutes-v1","meeting":1,"text":"x","sha256":"2d71","signature":"AAAA","key_id":"k"}`))
	f.Add([]byte(`{"format":"communehub-minutes-v1","signature":"","key_id":""}`))
	f.Add([]byte(`{"text":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeSignedMinutes(b)
		if err != nil {
			return
		}
		// Any decodable copy verifies or is refused with a reason, never panics.
		v := m.Verify(nil)
		if v.Valid || v.Reason == "" {
			t.Fatalf("verified without keys: %+v", v)
		}
	})
}

func TestIsProceedingsType(t *testing.T) {
	for typ := range procTypes {
		if !IsProceedingsType(typ) {
			t.Errorf("%s is not routed to the proceedings", typ)
		}
	}
	for _, typ := range []string{"offer", "answer", "candidate", "mute", "leave", "quality"} {
		if IsProceedingsType(typ) {
			t.Errorf("media message %s routed to the proceedings", typ)
		}
	}
}
