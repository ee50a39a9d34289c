package meetings_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/meetings/meetingstest"
)

// noRedirect shows redirects instead of following them and keeps no cookies.
var noRedirect = meetingstest.NoRedirect

// visit makes a request with cookies and returns the response and its body.
func (f *fixture) visit(method, u string, cookies ...*http.Cookie) (*http.Response, string) {
	return meetingstest.Visit(f.T, method, u, cookies...)
}

// passIn returns the meeting pass cookie a response sets, or nil.
func passIn(resp *http.Response, meetingID int64) *http.Cookie {
	return meetingstest.PassIn(resp, PassCookie(meetingID))
}

func (f *fixture) inviteUsed(invitee int64) bool {
	f.T.Helper()
	return f.Count(`SELECT count(*) FROM meeting_invitees WHERE id=$1 AND invite_used_at IS NOT NULL`, invitee) == 1
}

// Ten browsers redeem one link at the same moment: exactly one gets a pass.
func TestInviteLinkConcurrentRedemptions(t *testing.T) {
	f := newFixture(t)
	base := f.Serve() // the paperless page takes links too
	link := fmt.Sprintf("%s/meetings/%d/paperless?invite=%s", base, f.Meeting.ID, f.GuestToken)
	const n = 10
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make([]int, n)
	passes := make([]*http.Cookie, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", link, nil)
			<-start
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i], passes[i] = resp.StatusCode, passIn(resp, f.Meeting.ID)
		}()
	}
	close(start)
	wg.Wait()
	won, gone := 0, 0
	for i, s := range statuses {
		switch {
		case s == http.StatusSeeOther && passes[i] != nil:
			won++
		case s == http.StatusGone && passes[i] == nil:
			gone++
		default:
			t.Errorf("redemption %d: %d", i, s)
		}
	}
	if won != 1 || gone != n-1 {
		t.Fatalf("%d won, %d refused; want 1 and %d (statuses %v)", won, gone, n-1, statuses)
	}
	if got := f.Count(`SELECT count(*) FROM meeting_passes`); got != 1 {
		t.Fatalf("%d passes stored", got)
	}
}
