package media

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings"
)

// revokeWithin is how soon a connection whose access ended must be closed.
const revokeWithin = 2 * time.Second

// closedWithin waits up to d (scaled by hubtest.Timeout) for the server to close c and returns the
// close code and reason, or fails.
func closedWithin(t *testing.T, c *wsClient, d time.Duration) (int, string) {
	t.Helper()
	select {
	case <-c.Closed:
	case <-time.After(hubtest.Timeout(d)):
		t.Fatalf("socket still open after %v; messages %v", hubtest.Timeout(d), c.Types())
	}
	c.Mu.Lock()
	defer c.Mu.Unlock()
	return c.Code, c.Reason
}

// stillOpen fails unless c answers a ping.
func stillOpen(t *testing.T, c *wsClient, who string) {
	t.Helper()
	before := c.Count("pong", "")
	if err := c.Write([]byte(`{"type":"ping"}`)); err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	waitUntil(t, 5*time.Second, who+" answered", func() bool { return c.Count("pong", "") > before })
	select {
	case <-c.Closed:
		t.Fatalf("%s was disconnected (%d)", who, c.Code)
	default:
	}
}

// joinAll connects each user to s and waits until each has joined.
func (f *fixture) joinAll(s *mediaServer, users ...string) []*wsClient {
	f.T.Helper()
	var out []*wsClient
	for _, u := range users {
		c, _, err := f.dialMedia(s, u, "")
		f.Must(err)
		c.WaitMsg("joined", nil)
		out = append(out, c)
	}
	return out
}

// roomRefs lists the invitees in the meeting's SFU room on s.
func (f *fixture) roomRefs(s *mediaServer) []int64 {
	st, _ := s.media.engine.Stats(fmt.Sprint(f.Meeting.ID))
	var out []int64
	for _, p := range st.Participants {
		out = append(out, p.Ref)
	}
	return out
}

func hasRef(refs []int64, id int64) bool {
	for _, r := range refs {
		if r == id {
			return true
		}
	}
	return false
}

// lacks reports whether a participants message leaves out invitee id.
func lacks(id int64) func(map[string]any) bool {
	return func(m map[string]any) bool {
		ps, _ := m["participants"].([]any)
		for _, p := range ps {
			if pm, _ := p.(map[string]any); pm["ref"] == float64(id) {
				return false
			}
		}
		return true
	}
}

// A guest connected when staff remove them is disconnected at once with
// 4401 and leaves the room (the others see it); a staff member connected
// at the same time stays; no goroutine is left behind.
func TestRemovedGuestIsDisconnected(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	basePion := goroutinesIn("github.com/pion/")
	guestID := f.Inv["guest"].ID

	cs := f.joinAll(s, "guest", "chutich")
	guest, chair := cs[0], cs[1]
	chair.WaitMsg("participants", func(m map[string]any) bool { return !lacks(guestID)(m) })

	start := time.Now()
	f.JSON("DELETE", fmt.Sprintf("/api/v1/meetings/%d/invitees/%d", f.Meeting.ID, guestID), "admin", nil, 204, nil)
	code, reason := closedWithin(t, guest, revokeWithin)
	t.Logf("removed guest disconnected %v after the removal", time.Since(start).Round(time.Millisecond))
	if code != closeRevoked || reason != "access revoked: removed" {
		t.Errorf("closed with %d %q, want %d", code, reason, closeRevoked)
	}
	chair.WaitMsg("participants", lacks(guestID))
	waitUntil(t, revokeWithin, "the guest out of the room", func() bool { return !hasRef(f.roomRefs(s), guestID) })
	stillOpen(t, chair, "the chair")
	if !hasRef(f.roomRefs(s), f.Inv["chutich"].ID) {
		t.Error("the chair left the room too")
	}
	// The guest's reader, proceedings forwarder and handler are gone; the
	// chair's remain (a writer runs only while something is queued).
	waitUntil(t, 5*time.Second, "one connection's goroutines", func() bool {
		return goroutinesIn("meetings/media.(*sigConn).readLoop(") == 1 && goroutinesIn("meetings/media.(*sigConn).forwardProc(") == 1 &&
			goroutinesIn("meetings/media.(*Service).serve(") == 1
	})
	chair.Conn.Close()
	waitUntil(t, 10*time.Second, "no connection goroutines, Pion's back to baseline", func() bool {
		return goroutinesIn("meetings/media.(*sigConn)") == 0 && goroutinesIn("meetings/media.(*Service).serve(") == 0 &&
			goroutinesIn("github.com/pion/") <= basePion
	})
}

// goroutinesIn counts the goroutines with a frame whose function contains s.
func goroutinesIn(s string) int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, s) {
			n++
		}
	}
	return n
}

// A new link for a guest ends the connections opened with the old one
// (4401); the guest who comes back with the new link stays, and so does
// everyone else.
func TestReissuedLinkDisconnectsOldPass(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	guestID := f.Inv["guest"].ID

	cs := f.joinAll(s, "guest", "pct1")
	old, member := cs[0], cs[1]

	var out struct {
		InviteURL string `json:"invite_url"`
	}
	f.JSON("POST", fmt.Sprintf("/api/v1/meetings/%d/invitees/%d/link", f.Meeting.ID, guestID), "canbo", nil, 201, &out)
	if code, reason := closedWithin(t, old, revokeWithin); code != closeRevoked || reason != "access revoked: reissued" {
		t.Errorf("the old pass closed with %d %q, want %d", code, reason, closeRevoked)
	}
	member.WaitMsg("participants", lacks(guestID))

	resp, _ := f.visit("POST", s.base+out.InviteURL)
	pass := passIn(resp, f.Meeting.ID)
	if pass == nil {
		t.Fatalf("the new link gave no pass: %d", resp.StatusCode)
	}
	back, _, err := f.dialWith(strings.Replace(s.base, "http", "ws", 1)+fmt.Sprintf("/ws/meetings/%d", f.Meeting.ID), pass)
	f.Must(err)
	back.WaitMsg("joined", nil)
	// Another guest's new link must not touch this one.
	other, _, err := f.P.Invite(f.Ctx, f.Meeting.ID, meetings.InviteeInput{Name: "Sùng A Páo", Role: "guest"})
	f.Must(err)
	_, _, err = f.P.ReissueInvite(f.Ctx, f.Meeting.ID, other.ID)
	f.Must(err)
	time.Sleep(hubtest.Timeout(300 * time.Millisecond)) // sleep: a quiet window: the announcement is followed within milliseconds
	stillOpen(t, back, "the guest with the new link")
	stillOpen(t, member, "the member")
}

// Cancelling a meeting closes everyone's connection with 4401; so does
// closing it, the chair who closed it included.
func TestCancelledOrClosedMeetingDisconnectsEveryone(t *testing.T) {
	for _, how := range []string{meetings.RevokedCancelled, meetings.RevokedClosed} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t)
			f.StartFollower()
			s := f.serveMedia("hub-a")
			if how == meetings.RevokedClosed {
				f.Open()
			}
			conns := f.joinAll(s, "chutich", "pct1", "guest")
			if how == meetings.RevokedCancelled {
				f.JSON("POST", fmt.Sprintf("/api/v1/meetings/%d/cancel", f.Meeting.ID), "admin", nil, 204, nil)
			} else {
				f.Must(conns[0].Write([]byte(`{"type":"meeting.close","ref":"x"}`)))
				conns[0].WaitMsg("proc.ok", nil)
			}
			for i, c := range conns {
				if code, reason := closedWithin(t, c, revokeWithin); code != closeRevoked || reason != "access revoked: "+how {
					t.Errorf("connection %d closed with %d %q", i, code, reason)
				}
			}
			waitUntil(t, 5*time.Second, "room emptied", func() bool { return len(f.roomRefs(s)) == 0 })
		})
	}
}

// serveInstance starts a hub instance that shares only the database with
// the others: its own bus fed by its own outbox follower, its own
// proceedings, its own media.
func (f *fixture) serveInstance(name string) *mediaServer {
	f.T.Helper()
	core := testCore(f.Pool)
	bus := core.Bus
	p := f.StartProceedings(meetings.ProceedingsConfig{DataDir: f.DataDir, DocMaxBytes: 1 << 20, Instance: name}, core) // the instances of a test share its clock
	fol := hub.NewOutboxFollower(f.Pool, bus, nopLog(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fol.Run(ctx) }()
	f.T.Cleanup(func() { cancel(); <-done })
	hubtest.WaitFor(f.T, 10*time.Second, func() bool { return fol.LastID() > 0 }, "the outbox follower of "+name)
	return f.serveMediaWith(name, core, p)
}

// Two instances on one database: the guest's socket is held by B (which
// carries the meeting); staff remove the guest through A's API; B closes
// the socket with 4401 and the guest leaves B's room.
func TestRemovalOnOneInstanceClosesSocketOnAnother(t *testing.T) {
	f := newFixture(t)
	a := f.serveInstance("hub-a")
	b := f.serveInstance("hub-b")
	guestID := f.Inv["guest"].ID

	cs := f.joinAll(b, "chutich", "guest")
	chair, guest := cs[0], cs[1]
	if j := guest.WaitMsg("joined", nil); j["instance"] != "hub-b" {
		t.Fatalf("joined %v", j)
	}

	req, err := http.NewRequest("DELETE", fmt.Sprintf("%s/api/v1/meetings/%d/invitees/%d", a.base, f.Meeting.ID, guestID), nil)
	f.Must(err)
	req.AddCookie(f.Session("admin"))
	start := time.Now()
	resp, err := f.Client.Do(req)
	f.Must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("removal through A: %d", resp.StatusCode)
	}
	if code, reason := closedWithin(t, guest, revokeWithin); code != closeRevoked || reason != "access revoked: removed" {
		t.Errorf("closed with %d %q, want %d", code, reason, closeRevoked)
	}
	t.Logf("guest on hub-b disconnected %v after the removal on hub-a", time.Since(start).Round(time.Millisecond))
	chair.WaitMsg("participants", lacks(guestID))
	stillOpen(t, chair, "the chair on hub-b")
}
