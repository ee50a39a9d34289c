package meetings

import (
	"bytes"
	"encoding/json"
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
	m, _ := signedFixture(f)
	doc, _ := json.Marshal(m)
	f.Add(doc)
	f.Add([]byte(`{"format":"communehub-minutes-v1","meeting":1,"text":"x","sha256":"2d71","signature":"AAAA","key_id":"k"}`))
	f.Add([]byte(`{"format":"communehub-minutes-v2","meeting":1,"text":"x","sha256":"2d71","signature":"AAAA","key_id":"k","meeting":2}`))
	f.Add([]byte(`{"format":"communehub-minutes-v1","signature":"","key_id":""}`))
	f.Add([]byte(`{"text":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseMinutesCopy(b)
		if err != nil {
			return
		}
		// Any decodable copy verifies or is refused with a reason, never panics.
		v := c.Verify(nil)
		if v.Valid || v.Reason == "" {
			t.Fatalf("verified without keys: %+v", v)
		}
	})
}

// FuzzMinutesFromPDF feeds the PDF reader of the verifier: a genuine export,
// cut and edited. It never panics, and whatever it extracts is one of the
// PDF's embedded minutes documents.
func FuzzMinutesFromPDF(f *testing.F) {
	m, keys := signedFixture(f)
	pdf, err := RenderMinutesPDF(m, m.Verify(keys))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pdf)
	f.Add(pdf[:len(pdf)*2/3])
	f.Add(bytes.Replace(pdf, []byte("/Length "), []byte("/Length 9"), -1))
	f.Add([]byte("%PDF-1.4\n1 0 obj\n<< /Type /EmbeddedFile /Length 2 0 R >>\nstream\n{}\nendstream\nendobj\n2 0 obj 2 endobj\n"))
	f.Add([]byte("%PDF-1.4\n1 0 obj\n<< /Type /EmbeddedFile /Filter /FlateDecode /Length 3 >>\nstream\nabc\nendstream\n"))
	f.Add([]byte("%PDF-1.4\n1 0 obj <<(>>)<<>>/Type/EmbeddedFile/Length 99999999999>>stream\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := minutesFromPDF(b)
		if err != nil {
			return
		}
		if len(doc) == 0 || doc[0] != '{' || len(doc) > maxMinutesDoc {
			t.Fatalf("extracted %q", doc[:min(len(doc), 64)])
		}
		if c, err := ParseMinutesCopy(b); err == nil && c.Verify(keys).Valid && !bytes.Equal(c.JSON, doc) {
			t.Fatal("verified another document than the one extracted")
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
