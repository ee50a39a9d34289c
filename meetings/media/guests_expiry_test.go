package media

import (
	"testing"
	"time"

	"github.com/communehub/communehub/meetings"
)

// Moved so far back that its passes ended, a meeting drops the guests
// connected with a pass (4401) and keeps everyone else.
func TestRescheduledIntoThePastDisconnectsPassHolders(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	s := f.serveMedia("hub-a")
	cs := f.joinAll(s, "guest", "chutich")
	guest, chair := cs[0], cs[1]
	now := f.Clock.Now()
	f.Reschedule(now.Add(24*time.Hour), now.Add(26*time.Hour)) // later: nothing ends
	stillOpen(t, guest, "the guest after a later reschedule")
	start := time.Now()
	f.Reschedule(now.Add(-14*time.Hour), now.Add(-13*time.Hour)) // passes ended an hour ago
	code, reason := closedWithin(t, guest, revokeWithin)
	t.Logf("guest disconnected %v after the reschedule", time.Since(start).Round(time.Millisecond))
	if code != closeRevoked || reason != "access revoked: "+meetings.RevokedRescheduled {
		t.Errorf("closed with %d %q, want %d", code, reason, closeRevoked)
	}
	stillOpen(t, chair, "the chair")
}
