package media

import (
	"context"
	"encoding/json"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
)

// accessQueue bounds the queue of the access subscription; its events are
// ~60 bytes, so it overflows only when the follower is stuck.
const accessQueue = 1 << 20

// subscribeAccess follows every meeting's access topic on this instance.
func (m *Service) subscribeAccess() (*hub.Subscription, error) {
	return m.bus.Subscribe([]string{meetings.AccessPattern}, accessQueue)
}

// followAccess closes the connections whose access ended, until ctx ends.
// It owns the access subscription (m.access) from the moment Run starts it;
// when the bus drops the subscription (it fell behind), Follow subscribes
// again and every connection is checked against the database, since
// announcements may have been lost in between.
func (m *Service) followAccess(ctx context.Context) {
	err := m.access.Follow(ctx, func(evs []*hub.Event) {
		for _, ev := range evs {
			var a meetings.AccessRevoked
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
func (m *Service) applyRevoked(ctx context.Context, a meetings.AccessRevoked) {
	m.revocations.Add(1) // before looking: see stillAdmitted's caller in run
	for _, c := range m.connsOf(a.Meeting, a.Invitee) {
		switch {
		case a.Reason == meetings.RevokedRescheduled && (c.j.pass == "" || m.stillAdmitted(ctx, c)):
			continue
		case a.Reason == meetings.RevokedReissued && c.j.pass != "" && m.stillAdmitted(ctx, c):
			continue
		}
		c.revoke(a.Reason)
	}
}

// recheckAll checks every connection of this instance against the database.
func (m *Service) recheckAll(ctx context.Context) {
	m.revocations.Add(1)
	for _, c := range m.connsOf(0, 0) {
		if !m.stillAdmitted(ctx, c) {
			c.revoke("ended")
		}
	}
}

// connsOf returns the live connections of meeting (0: all meetings) held
// by invitee (0: anyone).
func (m *Service) connsOf(meeting, invitee int64) []*sigConn {
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
func (m *Service) stillAdmitted(ctx context.Context, c *sigConn) bool {
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
	case mt.State == meetings.MeetingClosed || mt.State == meetings.MeetingCancelled:
		return false
	}
	if c.j.pass != "" {
		inv, err := m.proc.PassInvitee(ctx, id, c.j.pass)
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
