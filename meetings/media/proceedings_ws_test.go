package media

import (
	"fmt"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
)

// TestProceedingsOverTheMeetingWebsocket runs a vote through the signaling
// websocket (no media negotiated at all): replies carry the ref, every
// connection follows the log, refusals under the rules do not cost the
// connection, and a dropped socket leaves its owner "reconnecting".
func TestProceedingsOverTheMeetingWebsocket(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	f.Clock.Set(time.Now())
	f.Now = time.Now
	s := f.serveMedia("a")
	dial := func(user string) *wsClient {
		c, resp, err := f.dialMedia(s, user, "")
		if err != nil {
			t.Fatalf("%s dials: %v (%v)", user, err, resp)
		}
		c.WaitMsg("joined", nil)
		return c
	}
	chair, m1, m2, sec := dial("chutich"), dial("pct1"), dial("pct2"), dial("thuky")
	ref := func(r string) func(map[string]any) bool { return func(m map[string]any) bool { return m["ref"] == r } }
	logged := func(kind string) func(map[string]any) bool {
		return func(m map[string]any) bool {
			d, _ := m["data"].(map[string]any)
			return m["topic"] == meetings.LogTopic(f.Meeting.ID) && d != nil && d["kind"] == kind
		}
	}
	send := func(c *wsClient, raw string) {
		t.Helper()
		if err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}

	send(chair, `{"type":"meeting.open","ref":"o1"}`)
	chair.WaitMsg("proc.ok", ref("o1"))
	m1.WaitMsg("event", logged(meetings.EvMeetingOpened))
	send(chair, `{"type":"vote.open","ref":"v1","question":"Thông qua kế hoạch sửa đường"}`)
	ok := chair.WaitMsg("proc.ok", ref("v1"))
	vote := int64(ok["body"].(map[string]any)["vote"].(float64))
	m2.WaitMsg("event", logged(meetings.EvVoteOpened))

	send(m1, fmt.Sprintf(`{"type":"vote.cast","ref":"c1","vote":%d,"choice":"yes"}`, vote))
	m1.WaitMsg("proc.ok", ref("c1"))
	for i := 0; i < 8; i++ { // clicking again and again: refused each time, never closed
		send(m1, fmt.Sprintf(`{"type":"vote.cast","ref":"again%d","vote":%d,"choice":"no"}`, i, vote))
	}
	refused := m1.WaitMsg("proc.error", ref("again7"))
	if e := refused["error"].(map[string]any); e["code"] != hub.EConflict {
		t.Fatalf("double vote: %v", e)
	}
	send(m2, fmt.Sprintf(`{"type":"vote.cast","ref":"c2","vote":%d,"choice":"no"}`, vote))
	m2.WaitMsg("proc.ok", ref("c2"))
	send(sec, fmt.Sprintf(`{"type":"vote.close","ref":"x1","vote":%d}`, vote))
	if e := sec.WaitMsg("proc.error", ref("x1"))["error"].(map[string]any); e["code"] != hub.EForbidden {
		t.Fatalf("secretary closing: %v", e)
	}
	send(chair, fmt.Sprintf(`{"type":"vote.close","ref":"x2","vote":%d}`, vote))
	tally := chair.WaitMsg("proc.ok", ref("x2"))["body"].(map[string]any)["tally"].(map[string]any)
	if tally["yes"] != 1.0 || tally["no"] != 1.0 || tally["passed"] != false {
		t.Fatalf("tally %v", tally)
	}
	m2.WaitMsg("event", logged(meetings.EvVoteClosed))

	send(m1, `{"type":"proc.sync","ref":"s1"}`)
	view := m1.WaitMsg("proc.state", ref("s1"))["body"].(map[string]any)
	if view["me"].(map[string]any)["name"] != "Mùa A Dình" || len(view["state"].(map[string]any)["votes"].([]any)) != 1 {
		t.Fatalf("sync view %v", view["me"])
	}
	send(m1, `{"type":"vote.cast","ref":"bad","vote":"three"}`)
	if e := m1.WaitMsg("proc.error", ref("bad"))["error"].(map[string]any); e["code"] != hub.EInvalid || e["field"] != "vote" {
		t.Fatalf("malformed: %v", e)
	}
	select {
	case <-m1.Closed:
		t.Fatalf("refusals closed the connection (code %d)", m1.Code)
	default:
	}

	// The link drops: reconnecting, not absent.
	m2.Conn.Close()
	waitUntil(t, 10*time.Second, "pct2 reconnecting", func() bool {
		st, err := f.P.State(f.Ctx, f.Meeting.ID)
		return err == nil && st.StatusOf(f.Inv["pct2"].ID) == meetings.AttReconnecting
	})
}
