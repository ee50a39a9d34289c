package meetings

import (
	"strconv"

	"github.com/communehub/communehub/hub"
)

// Access is checked when a connection opens. When it ends for people
// already connected — an invitee removed, a guest's link re-issued, the
// meeting cancelled or closed — the command that ends it writes an event
// on meeting/{id}/access through the outbox, in its own transaction, so
// every hub instance learns of it exactly when the change commits; each
// instance's Media closes the signaling connections it holds for it with
// closeRevoked. (The meeting's log is not used: it is the proceedings'
// record, replayed into their state and the minutes, and a re-issued link
// or a cancellation is no part of it.)

// AccessTopic is the bus topic on which a meeting's access changes are
// announced (docs/topics.md).
func AccessTopic(meetingID int64) string {
	return accessFamily.Topic(strconv.FormatInt(meetingID, 10))
}

// Why access ended, the reason of an AccessRevoked.
const (
	RevokedRemoved   = "removed"   // the invitee was removed
	RevokedReissued  = "reissued"  // a new invite link was issued: passes and tickets of the old one end
	RevokedCancelled = "cancelled" // the meeting was cancelled: everyone
	RevokedClosed    = "closed"    // the meeting was closed: everyone
	// The meeting was moved so that its invite links and passes ended
	// (AccessGrace after its new planned end): guests who came with a pass.
	RevokedRescheduled = "rescheduled"
)

// AccessRevoked is the data of AccessTopic. Invitee 0 means everyone.
type AccessRevoked struct {
	Meeting int64  `json:"meeting"`
	Invitee int64  `json:"invitee,omitempty"`
	Reason  string `json:"reason"`
}

// revokeAccess announces, in the command's transaction, that invitee (0:
// everyone) may no longer take part.
func (c *cmd) revokeAccess(invitee int64, reason string) error {
	return hub.WriteEvent(c.ctx, c.tx, AccessTopic(c.m.ID), AccessRevoked{Meeting: c.m.ID, Invitee: invitee, Reason: reason})
}
