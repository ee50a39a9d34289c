package meetings

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

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

// accessQueue bounds the queue of the access subscription; its events are
// ~60 bytes, so it overflows only when the follower is stuck.
const accessQueue = 1 << 20

// subscribeAccess follows every meeting's access topic on this instance.
func (m *Media) subscribeAccess() (*hub.Subscription, error) {
	return m.bus.Subscribe([]string{"meeting/+/access"}, accessQueue)
}

// followAccess closes the connections whose access ended, until ctx ends.
// It owns the access subscription (m.access) from the moment Run starts it;
// when the bus drops the subscription (it fell behind), Follow subscribes
// again and every connection is checked against the database, since
// announcements may have been lost in between.
func (m *Media) followAccess(ctx context.Context) {
	err := m.access.Follow(ctx, func(evs []*hub.Event) {
		for _, ev := range evs {
			var a AccessRevoked
			if err := json.Unmarshal(ev.Data, &a); err != nil || a.Meeting == 0 {
				m.log.Warn("access event", "topic", ev.Topic, "err", err)
				continue
			}
			m.applyRevoked(ctx, a)
		}
	}, func(reason error) {
		m.log.Warn("access subscription dropped; checking every connection", "err", reason)
		m.recheckAll(ctx)
	})
	if err != nil {
		m.log.Error("resubscribe to access events", "err", err)
	}
}

// applyRevoked closes this instance's connections that a just committed
// change shut out. After a new link only connections opened with the old
// one go: a pass is checked again (the guest may already be back with the
// new link), a ticket connection goes. After a reschedule only passes are
// checked again.
func (m *Media) applyRevoked(ctx context.Context, a AccessRevoked) {
	m.revocations.Add(1) // before looking: see stillAdmitted's caller in run
	for _, c := range m.connsOf(a.Meeting, a.Invitee) {
		switch {
		case a.Reason == RevokedRescheduled && (c.j.pass == "" || m.stillAdmitted(ctx, c)):
			continue
		case a.Reason == RevokedReissued && c.j.pass != "" && m.stillAdmitted(ctx, c):
			continue
		}
		c.revoke(a.Reason)
	}
}

// recheckAll checks every connection of this instance against the database.
func (m *Media) recheckAll(ctx context.Context) {
	m.revocations.Add(1)
	for _, c := range m.connsOf(0, 0) {
		if !m.stillAdmitted(ctx, c) {
			c.revoke("ended")
		}
	}
}

// connsOf returns the live connections of meeting (0: all meetings) held
// by invitee (0: anyone).
func (m *Media) connsOf(meeting, invitee int64) []*sigConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*sigConn
	for id, set := range m.conns {
		if meeting != 0 && id != meeting {
			continue
		}
		for c := range set {
			if invitee == 0 || c.j.who.ID == invitee {
				out = append(out, c)
			}
		}
	}
	return out
}

// stillAdmitted asks the database whether c would be admitted now: the
// meeting neither closed nor cancelled, the invitee still invited and, for
// a guest who came with a meeting pass, that pass still valid. A database
// error keeps the connection (the next announcement or reconnect decides).
func (m *Media) stillAdmitted(ctx context.Context, c *sigConn) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	id := c.j.meeting.ID
	mt, err := m.proc.Meeting(ctx, id)
	switch {
	case hub.ErrorCode(err) == hub.ENotFound:
		return false
	case err != nil:
		m.log.Warn("check access", "meeting", id, "err", err)
		return true
	case mt.State == MeetingClosed || mt.State == MeetingCancelled:
		return false
	}
	if c.j.pass != "" {
		inv, _, err := m.proc.passInvitee(ctx, id, c.j.pass)
		if err != nil {
			m.log.Warn("check access", "meeting", id, "err", err)
			return true
		}
		return inv != nil && inv.ID == c.j.who.ID
	}
	_, err = m.inviteeByID(ctx, id, c.j.who.ID)
	if err != nil && hub.ErrorCode(err) != hub.EForbidden {
		m.log.Warn("check access", "meeting", id, "err", err)
		return true
	}
	return err == nil
}
