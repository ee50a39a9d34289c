package media

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/sfu/sfutest"
)

// Two invitees, one with a session and one with a meeting pass, hold a
// meeting through the signaling socket: each receives the other's audio and
// video; the stats endpoint, the bus and the attendance register see them.
func TestSignalingTwoParticipants(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	sub, err := f.Bus.Subscribe([]string{meetings.MediaTopic(f.Meeting.ID)}, 1<<20)
	f.Must(err)
	defer sub.Close()

	chair, _, err := f.dialMedia(s, "chutich", "")
	f.Must(err)
	guest, _, err := f.dialMedia(s, "guest", "")
	f.Must(err)
	chair.WaitMsg("joined", nil)
	j := guest.WaitMsg("joined", nil)
	if j["rejoin"] != nil {
		t.Error("a guest with a meeting pass got a rejoin ticket: the pass is what reconnects")
	}
	a := chair.attach(sfutest.Config{Audio: true, Video: true, Simulcast: true})
	b := guest.attach(sfutest.Config{Audio: true, Video: true})
	f.Must(a.Start())
	f.Must(b.Start())
	for name, bot := range map[string]*sfutest.Bot{"chair": a, "guest": b} {
		waitUntil(t, 10*time.Second, name+" receives audio and video", func() bool {
			return bot.Received("audio") > 20 && bot.Frames() > 10
		})
		ff, _ := bot.FirstFrame()
		t.Logf("%s: first remote frame %v after joining", name, ff.Round(time.Millisecond))
	}
	// Stats endpoint, as the chair and as staff; an outsider is refused.
	var st statsBody
	statsPath := fmt.Sprintf("/api/v1/meetings/%d/stats", f.Meeting.ID)
	waitUntil(t, 5*time.Second, "round-trip times in the stats", func() bool {
		f.getJSON(s.base, statsPath, "chutich", 200, &st)
		for _, p := range st.Participants {
			if p.RTTMs <= 0 {
				return false
			}
		}
		return true
	})
	if len(st.Participants) != 2 || st.ForwardedPackets == 0 || st.Instance != "hub-a" {
		t.Fatalf("stats %+v", st)
	}
	for _, p := range st.Participants {
		if len(p.Published) != 2 || len(p.Subscribed) != 2 {
			t.Errorf("participant %s (%s): %d published, %d subscribed, rtt %v", p.ID, p.Name, len(p.Published), len(p.Subscribed), p.RTTMs)
		}
	}
	f.getJSON(s.base, statsPath, "canbo", 200, nil)
	f.getJSON(s.base, statsPath, "outsider", 403, nil)
	// Bus: meeting/{id}/media lists both participants with their media.
	waitUntil(t, 5*time.Second, "media state with two participants on the bus", func() bool {
		ev := f.Bus.Latest(meetings.MediaTopic(f.Meeting.ID))
		if ev == nil {
			return false
		}
		var ms MediaState
		_ = json.Unmarshal(ev.Data, &ms)
		return len(ms.Participants) == 2 && ms.Participants[0].Audio && ms.Participants[0].Video
	})
	// Attendance: both are online in the proceedings.
	waitUntil(t, 5*time.Second, "attendance", func() bool {
		st, err := f.P.State(f.Ctx, f.Meeting.ID)
		return err == nil && st.StatusOf(f.Inv["guest"].ID) == meetings.AttOnline && st.StatusOf(f.Inv["chutich"].ID) == meetings.AttOnline
	})
	// Mute is told to everyone.
	f.Must(chair.Send("mute", map[string]any{"source": "mic", "muted": true}))
	guest.WaitMsg("participants", func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m), "muted:true") })
	// Leaving cleanly records the departure and empties the room.
	f.Must(guest.Send("leave", nil))
	if code := guest.WaitClosed(); code != 1000 {
		t.Errorf("leave closed with %d", code)
	}
	waitUntil(t, 5*time.Second, "the guest leaves the room", func() bool {
		st, _ := s.media.engine.Stats(fmt.Sprint(f.Meeting.ID))
		return len(st.Participants) == 1
	})
}

// Someone who joins a room that already has publications gets joined
// before anything from the SFU, the offer for the down connection included:
// the page creates its peer connections on joined and cannot take an offer
// before it (its receiving connection then stayed in state "new").
func TestSignalingJoinedBeforeOffer(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	chair, _, err := f.dialMedia(s, "chutich", "")
	f.Must(err)
	chair.WaitMsg("joined", nil)
	f.Must(chair.attach(sfutest.Config{Audio: true, Video: true}).Start())
	waitUntil(t, 10*time.Second, "the chair publishes", func() bool {
		st, _ := s.media.engine.Stats(fmt.Sprint(f.Meeting.ID))
		return len(st.Participants) == 1 && len(st.Participants[0].Published) == 2
	})
	for i := range 3 {
		guest, _, err := f.dialMedia(s, "guest", "")
		f.Must(err)
		guest.WaitMsg("offer", nil)
		if types := guest.Types(); types[0] != "joined" {
			t.Fatalf("join %d: messages %v", i, types)
		}
		f.Must(guest.Send("leave", nil))
		guest.WaitClosed()
	}
}

// Only invitees get in: 401 without credentials, 403 for a user who is not
// invited or a bad link, 404 for a meeting that does not exist.
func TestSignalingAccess(t *testing.T) {
	f := newFixture(t)
	s := f.serveMedia("hub-a")
	cases := []struct {
		user, query string
		want        int
	}{
		{"", "", http.StatusUnauthorized},
		{"outsider", "", http.StatusForbidden},
		{"admin", "", http.StatusForbidden}, // staff are not invitees
		{"", "invite=not-a-token", http.StatusForbidden},
		{"", "ticket=not-a-ticket", http.StatusForbidden},
	}
	for _, c := range cases {
		_, resp, err := f.dialMedia(s, c.user, c.query)
		if err == nil || resp == nil || resp.StatusCode != c.want {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("%q %q: status %d err %v, want %d", c.user, c.query, status, err, c.want)
		}
	}
	u := strings.Replace(s.base, "http", "ws", 1) + "/ws/meetings/999999"
	if _, resp, err := f.dialURL(u, "chutich"); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown meeting: %v %v", resp.StatusCode, err)
	}
	// A foreign origin is refused.
	h := http.Header{"Origin": {"http://evil.example"}}
	c := f.Session("chutich")
	h.Set("Cookie", c.Name+"="+c.Value)
	if _, resp, err := (&wsDialer).Dial(strings.Replace(s.base, "http", "ws", 1)+fmt.Sprintf("/ws/meetings/%d", f.Meeting.ID), h); err == nil || resp.StatusCode != 403 {
		t.Errorf("foreign origin admitted")
	}
	// The observer may watch but not publish.
	obs, _, err := f.dialMedia(s, "quansat", "")
	f.Must(err)
	obs.WaitMsg("joined", nil)
	b := obs.attach(sfutest.Config{Audio: true})
	f.Must(b.Start())
	obs.WaitMsg("error", func(m map[string]any) bool { return m["code"] == hub.EForbidden })
}

// Bad input gets an error and, if it persists, the socket is closed; the
// server neither panics nor leaks.
func TestSignalingBadInput(t *testing.T) {
	f := newFixture(t)
	s := f.serveMedia("hub-a")
	base := runtime.NumGoroutine()

	c, _, err := f.dialMedia(s, "chutich", "")
	f.Must(err)
	c.WaitMsg("joined", nil)
	bad := []string{
		`not json`,
		`{"type":"nonsense"}`,
		`{"type":"offer"}`,
		`{"type":"offer","sdp":"v=0 garbage"}`,
		`{"type":"offer","sdp":"v=0\r\n","sources":{"0":"loudspeaker"}}`,
		`{"type":"answer","sdp":"v=0"}`,
		`{"type":"candidate","target":"up","candidate":{"candidate":"candidate:bogus"}}`,
		`{"type":"candidate","target":"sideways","candidate":{"candidate":""}}`,
		`{"type":"mute","source":"mic"}`,
		`["type","offer"]`,
	}
	for _, m := range bad[:8] {
		f.Must(c.Write([]byte(m)))
	}
	f.Must(c.Write([]byte(`{"type":"ping","pad":"` + strings.Repeat("x", 70<<10) + `"}`)))
	waitUntil(t, 5*time.Second, "errors for each bad message", func() bool { return c.Count("error", "") >= 8 })
	if c.Count("error", "too_large") != 1 || c.Count("error", "unknown_type") != 1 {
		t.Errorf("errors: %v", c.Types())
	}
	f.Must(c.Write([]byte(`{"type":"ping"}`)))
	c.WaitMsg("pong", nil)
	// More bad messages: closed for persisting.
	for _, m := range bad {
		_ = c.Write([]byte(m))
	}
	if code := c.WaitClosed(); code != hub.CloseBadRequest {
		t.Errorf("closed with %d, want %d", code, hub.CloseBadRequest)
	}

	// A flood: rate errors, then closed.
	fl, _, err := f.dialMedia(s, "pct1", "")
	f.Must(err)
	fl.WaitMsg("joined", nil)
	for i := 0; i < 2000; i++ {
		if fl.Write([]byte(`{"type":"ping"}`)) != nil {
			break
		}
	}
	if code := fl.WaitClosed(); code != closeFlood {
		t.Errorf("flood closed with %d, want %d (%v)", code, closeFlood, fl.Types()[:5])
	}
	if fl.Count("error", "rate_limited") == 0 {
		t.Error("no rate_limited error before closing")
	}
	waitUntil(t, 10*time.Second, "goroutines back to baseline", func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= base+3
	})
	waitUntil(t, 5*time.Second, "room emptied", func() bool {
		_, ok := s.media.engine.Stats(fmt.Sprint(f.Meeting.ID))
		return !ok
	})
}

// Two hub instances on one database: the meeting's media lives on the
// instance that got the first participant; a participant who reaches the
// other is sent there with a ticket and meets the first one.
func TestTwoInstancesRedirectToOwner(t *testing.T) {
	f := newFixture(t)
	a := f.serveMedia("hub-a")
	b := f.serveMedia("hub-b")

	first, _, err := f.dialMedia(a, "chutich", "")
	f.Must(err)
	first.WaitMsg("joined", nil)
	pub := first.attach(sfutest.Config{Audio: true, Video: true})
	f.Must(pub.Start())

	var owner string
	f.Must(f.Pool.QueryRow(f.Ctx, `SELECT instance_id FROM meeting_media_owner WHERE meeting_id=$1`, f.Meeting.ID).Scan(&owner))
	if owner != "hub-a" {
		t.Fatalf("owner %q", owner)
	}
	second, _, err := f.dialMedia(b, "pct1", "")
	f.Must(err)
	r := second.WaitMsg("redirect", nil)
	if code := second.WaitClosed(); code != closeRedirect {
		t.Errorf("redirect closed with %d", code)
	}
	wsURL, _ := r["ws"].(string)
	if !strings.HasPrefix(wsURL, strings.Replace(a.base, "http", "ws", 1)) || !strings.Contains(wsURL, "ticket=") {
		t.Fatalf("redirect to %q", wsURL)
	}
	// The ticket admits once, without the session cookie.
	moved, _, err := f.dialURL(wsURL, "")
	f.Must(err)
	moved.WaitMsg("joined", nil)
	sub := moved.attach(sfutest.Config{})
	sub.MarkStart()
	waitUntil(t, 10*time.Second, "the redirected participant receives the first one's video", func() bool { return sub.Frames() > 5 })
	if _, resp, err := f.dialURL(wsURL, ""); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Error("a used ticket admitted again")
	}
	// Stats asked of the other instance are redirected to the owner.
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/meetings/%d/stats", b.base, f.Meeting.ID), nil)
	req.AddCookie(f.Session("chutich"))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	f.Must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(resp.Header.Get("Location"), a.base) {
		t.Errorf("stats on the other instance: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// When the room empties the claim is released, so the next participant
	// may start the meeting on either instance.
	first.Conn.Close()
	moved.Conn.Close()
	waitUntil(t, 15*time.Second, "claim released", func() bool {
		var n int
		_ = f.Pool.QueryRow(f.Ctx, `SELECT count(*) FROM meeting_media_owner WHERE meeting_id=$1`, f.Meeting.ID).Scan(&n)
		return n == 0
	})
	again, _, err := f.dialMedia(b, "pct2", "")
	f.Must(err)
	again.WaitMsg("joined", nil)
}
