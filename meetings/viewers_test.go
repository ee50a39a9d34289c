package meetings_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/meetingstest"

	"github.com/communehub/communehub/hub"
)

// eventSocket opens /ws with topics as user (see Fixture.Cookie), or with
// header (a bearer token) when user is "".
func (f *fixture) eventSocket(user string, header http.Header, topics ...string) (*wsClient, *http.Response, error) {
	q := url.Values{"topic": topics}
	u := strings.Replace(f.Serve(), "http", "ws", 1) + "/ws?" + q.Encode()
	if user != "" {
		return f.DialWith(u, f.Cookie(user))
	}
	return meetingstest.Dial(f.T, u, header)
}

// An uninvited viewer gets no event of a meeting on /ws — not by naming
// its topics (refused at the upgrade) and not through a wildcard — while
// an invitee does, until they are removed; a guest's pass follows its own
// meeting and nothing else.
func TestMeetingStateOnTheEventSocketFollowsREST(t *testing.T) {
	f := newFixture(t)
	id := f.Meeting.ID
	state, log, media := StateTopic(id), LogTopic(id), MediaTopic(id)
	for _, topic := range []string{state, log, media, AccessTopic(id)} {
		if _, resp, err := f.eventSocket("outsider", nil, topic); err == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("an uninvited viewer opens /ws?topic=%s: %v", topic, err)
		}
	}
	const sentinel = "test/sentinel"
	var wild []*wsClient
	for _, topics := range [][]string{{"meeting/+", sentinel}, {"meeting/#", sentinel}, {"#"}, {"+/+", "meeting/+/+"}} {
		c, _, err := f.eventSocket("outsider", nil, topics...)
		if err != nil {
			t.Fatalf("outsider with %v: %v", topics, err)
		}
		wild = append(wild, c)
	}
	invited, _, err := f.eventSocket("pct1", nil, state)
	f.Must(err)
	guest, _, err := f.eventSocket("guest", nil, "#") // a meeting pass: its own meeting's topics only
	f.Must(err)
	_, err = f.Bus.Publish("test/before", map[string]any{})
	f.Must(err)
	staff, _, err := f.eventSocket("canbo", nil, "meeting/+") // an officer, not invited: staff see every meeting
	f.Must(err)

	f.Must(f.P.Join(f.Ctx, f.Inv["pct1"], AttOnline))
	invited.WaitMsg("event", func(m map[string]any) bool {
		d, _ := m["data"].(map[string]any)
		ps, _ := d["participants"].([]any)
		return m["topic"] == state && len(ps) == 1
	})
	staff.WaitMsg("event", func(m map[string]any) bool { return m["topic"] == state })
	guest.WaitMsg("event", func(m map[string]any) bool { return m["topic"] == state })
	for _, topic := range guest.Events() {
		if !strings.HasPrefix(topic, state) {
			t.Errorf("a guest on # got %s", topic)
		}
	}
	// The bus published the meeting's events before the sentinel: a
	// wildcard socket that has the sentinel would have had them.
	_, err = f.Bus.Publish(sentinel, map[string]any{})
	f.Must(err)
	for _, c := range wild {
		c.WaitMsg("event", func(m map[string]any) bool { return m["topic"] == sentinel })
		for _, topic := range c.Events() {
			if strings.HasPrefix(topic, "meeting/") {
				t.Errorf("an uninvited viewer got %s through a wildcard (events %v)", topic, c.Events())
			}
		}
	}

	// Removed from the invitees: the socket that named the topic closes.
	start := time.Now()
	f.Must(f.P.Uninvite(f.Ctx, id, f.Inv["pct1"].ID))
	if code := invited.WaitClosed(); code != hub.CloseForbidden {
		t.Errorf("a removed invitee's socket: close %d, want %d", code, hub.CloseForbidden)
	}
	t.Logf("a removed invitee's socket closed %v after the removal", time.Since(start).Round(time.Millisecond))
	if _, resp, err := f.eventSocket("pct1", nil, state); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a removed invitee opens /ws?topic=%s: %v", state, err)
	}
	// A guest's link issued again: the old pass's socket closes.
	named, _, err := f.eventSocket("guest", nil, state)
	f.Must(err)
	_, _, err = f.P.ReissueInvite(f.Ctx, id, f.Inv["guest"].ID)
	f.Must(err)
	if code := named.WaitClosed(); code != hub.CloseForbidden {
		t.Errorf("the socket of a re-issued guest pass: close %d, want %d", code, hub.CloseForbidden)
	}
}

// REST and the event socket give the same answer to every kind of
// principal (a guest by their meeting pass), for each of a meeting's
// topics: both ask viewer.
func TestRESTAndEventSocketAgreeOnWhoSeesAMeeting(t *testing.T) {
	f := newFixture(t)
	id := f.Meeting.ID
	auth := hub.NewAuth(f.Pool, hub.AuthConfig{}, nopLog())
	bearer := func(role hub.Role) http.Header {
		_, tok, err := auth.CreateToken(f.Ctx, "script-"+string(role), role, "")
		f.Must(err)
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	cases := []struct {
		who    string
		user   string // fixture user, or "" with header
		header http.Header
		sees   bool
	}{
		{"admin", "admin", nil, true},
		{"invited officer", "thuky", nil, true},
		{"uninvited officer", "canbo", nil, true},
		{"invited viewer", "pct1", nil, true},
		{"uninvited viewer", "outsider", nil, false},
		{"viewer token", "", bearer(hub.RoleViewer), false},
		{"officer token", "", bearer(hub.RoleOfficer), true},
		{"technician token", "", bearer(hub.RoleTechnician), false},
		{"guest (meeting pass)", "guest", nil, true},
	}
	for _, c := range cases {
		req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/meetings/%d", f.Serve(), id), nil)
		f.Must(err)
		for k, v := range c.header {
			req.Header[k] = v
		}
		if c.user != "" {
			req.AddCookie(f.Cookie(c.user))
		}
		resp, err := f.Client.Do(req)
		f.Must(err)
		resp.Body.Close()
		restStatus := resp.StatusCode
		rest := restStatus == http.StatusOK
		if !rest && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: REST %d", c.who, resp.StatusCode)
		}
		if rest != c.sees {
			t.Errorf("%s: REST sees the meeting: %v, want %v", c.who, rest, c.sees)
		}
		for _, topic := range []string{StateTopic(id), LogTopic(id), MediaTopic(id)} {
			ws, resp, err := f.eventSocket(c.user, c.header, topic)
			switch {
			case err == nil:
				ws.Conn.Close()
				if !rest {
					t.Errorf("%s: /ws?topic=%s opens, REST says %d", c.who, topic, restStatus)
				}
			case resp == nil:
				t.Fatalf("%s: %v", c.who, err)
			case resp.StatusCode != http.StatusForbidden || rest:
				t.Errorf("%s: /ws?topic=%s: %d, REST sees: %v", c.who, topic, resp.StatusCode, rest)
			}
		}
	}
}

// TopicMeeting reads the meeting out of a topic or pattern a client sends
// to /ws: never a meeting for a topic outside meeting/, never a negative
// or zero one, and the same number the segment spells.
func FuzzTopicMeeting(f *testing.F) {
	for _, s := range []string{"meeting/1", "meeting/12/log", "meeting/+", "meeting/#", "#", "meeting/-3", "meeting/0",
		"meeting/99999999999999999999", "meeting//log", "commune/03244/meetings", "meeting/007/media", "meeting/1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		id := TopicMeeting(topic)
		if id == 0 {
			return
		}
		rest, ok := strings.CutPrefix(topic, "meeting/")
		seg, _, _ := strings.Cut(rest, "/")
		if n, err := strconv.ParseInt(seg, 10, 64); !ok || id < 0 || err != nil || n != id {
			t.Fatalf("topicMeeting(%q) = %d", topic, id)
		}
	})
}
