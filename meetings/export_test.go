package meetings

import (
	"context"
	"os"
)

// What the external tests (package meetings_test, which share
// meetingstest's fixture with meetings/media) reach of meetings' insides.

var (
	PresentSeats      = presentSeats
	IsLinkExpired     = isLinkExpired
	TopicMeeting      = topicMeeting
	InvitePage        = invitePage
	FixedMinutesInput = fixedMinutesInput
	TamperEach        = tamperEach
)

type (
	EvDoc         = evDoc
	MeetingDetail = meetingDetail
)

// SweepPasses is sweepPasses, which Run calls on its own schedule.
func (p *Proceedings) SweepPasses(ctx context.Context) { p.sweepPasses(ctx) }

// OpenVersion is openVersion.
func (p *Proceedings) OpenVersion(ctx context.Context, meetingID, docID int64, version int) (*DocVersion, *os.File, error) {
	return p.openVersion(ctx, meetingID, docID, version)
}

// InviteState is inviteState.
func (p *Proceedings) InviteState(ctx context.Context, meetingID int64, token string) (invitee int64, used bool, err error) {
	return p.inviteState(ctx, meetingID, token)
}
