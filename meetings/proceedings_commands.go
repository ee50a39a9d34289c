package meetings

import (
	"context"

	"github.com/communehub/communehub/hub"
)

// actor returns the invitee acting in this command, as the database has it
// now (a role may have changed since the caller resolved it).
func (c *cmd) actor(who *Invitee) (*Invitee, error) {
	if who == nil {
		return nil, hub.Errorf(hub.EForbidden, "only invitees take part in meeting %d", c.m.ID)
	}
	v := c.invitees[who.ID]
	if v == nil || who.MeetingID != c.m.ID {
		return nil, hub.Errorf(hub.EForbidden, "you are not an invitee of meeting %d", c.m.ID)
	}
	return v, nil
}

// chair returns the actor when it is the meeting's chair.
func (c *cmd) chair(who *Invitee, what string) (*Invitee, error) {
	v, err := c.actor(who)
	if err != nil {
		return nil, err
	}
	if v.Role != RoleChair {
		return nil, hub.Errorf(hub.EForbidden, "only the chair may %s", what)
	}
	return v, nil
}

// secretaryOrChair returns the actor when it is the secretary or the chair.
func (c *cmd) secretaryOrChair(who *Invitee, what string) (*Invitee, error) {
	v, err := c.actor(who)
	if err != nil {
		return nil, err
	}
	if !v.Secretary && v.Role != RoleChair {
		return nil, hub.Errorf(hub.EForbidden, "only the secretary or the chair may %s", what)
	}
	return v, nil
}

func (c *cmd) mustBeOpen() error {
	if c.m.State != MeetingOpen {
		return hub.Errorf(hub.EConflict, "meeting %d is %s, not open", c.m.ID, c.m.State)
	}
	return nil
}

func (c *cmd) target(id int64, field string) (*Invitee, error) {
	v := c.invitees[id]
	if v == nil {
		return nil, hub.FieldError(field, "no invitee %d in meeting %d", id, c.m.ID)
	}
	return v, nil
}

// OpenMeeting opens a scheduled meeting (the chair).
func (p *Proceedings) OpenMeeting(ctx context.Context, who *Invitee) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "open the meeting")
		if err != nil {
			return err
		}
		if c.m.State != MeetingScheduled {
			return hub.Errorf(hub.EConflict, "meeting %d is %s; only a scheduled meeting opens", c.m.ID, c.m.State)
		}
		if err := openMeeting(ctx, c.tx, c.m, c.now); err != nil {
			return err
		}
		c.unitChanged = true
		return c.emit(EvMeetingOpened, v.ID, struct{}{})
	})
}

// CloseMeeting ends an open meeting (the chair) and drafts its minutes.
func (p *Proceedings) CloseMeeting(ctx context.Context, who *Invitee) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "close the meeting")
		if err != nil {
			return err
		}
		if err := c.mustBeOpen(); err != nil {
			return err
		}
		if ov := c.st.OpenVote(); ov != nil {
			return hub.Errorf(hub.EConflict, "vote %d is still open; close it first", ov.ID)
		}
		if err := closeMeeting(ctx, c.tx, c.m, c.now); err != nil {
			return err
		}
		c.unitChanged = true
		if err := c.emit(EvMeetingClosed, v.ID, struct{}{}); err != nil {
			return err
		}
		if err := c.revokeAccess(0, RevokedClosed); err != nil {
			return err
		}
		return p.draftMinutes(c, 0)
	})
}

// OpenItem moves the meeting to an agenda item (the chair).
func (p *Proceedings) OpenItem(ctx context.Context, who *Invitee, item int64) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "move to an agenda item")
		if err != nil {
			return err
		}
		if err := c.mustBeOpen(); err != nil {
			return err
		}
		if c.item(item) == nil {
			return hub.FieldError("item", "no agenda item %d in meeting %d", item, c.m.ID)
		}
		if ov := c.st.OpenVote(); ov != nil {
			return hub.Errorf(hub.EConflict, "vote %d is still open; close it before moving on", ov.ID)
		}
		if c.st.CurrentItem == item {
			return nil
		}
		return c.emit(EvItemOpened, v.ID, evItem{Item: item})
	})
}

// ShowDoc makes every participant's viewer show page of a document (the
// chair). Version 0 means the latest.
func (p *Proceedings) ShowDoc(ctx context.Context, who *Invitee, doc int64, version, page int) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "lead the document viewer")
		if err != nil {
			return err
		}
		if err := c.mustBeOpen(); err != nil {
			return err
		}
		if page < 1 || page > 100000 {
			return hub.FieldError("page", "must be a page number from 1")
		}
		dv, err := docVersion(ctx, c.tx, c.m.ID, doc, version)
		if err != nil {
			return err
		}
		if dv.Pages != nil && page > *dv.Pages {
			return hub.FieldError("page", "document %d version %d has %d pages", doc, dv.Version, *dv.Pages)
		}
		if d := c.st.Doc; d != nil && d.Doc == doc && d.Version == dv.Version && d.Page == page {
			return nil
		}
		return c.emit(EvDocShown, v.ID, evDoc{Doc: doc, Version: dv.Version, Page: page})
	})
}

// RaiseHand puts the participant in the current item's speaker queue.
func (p *Proceedings) RaiseHand(ctx context.Context, who *Invitee) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.actor(who)
		if err != nil {
			return err
		}
		if err := c.mustBeOpen(); err != nil {
			return err
		}
		if v.Role == RoleObserver {
			return hub.Errorf(hub.EForbidden, "observers follow the meeting and do not take the floor")
		}
		if !present(c.st.StatusOf(v.ID)) {
			return hub.Errorf(hub.EConflict, "you are not recorded as present")
		}
		if c.st.inQueue(c.st.CurrentItem, v.ID) >= 0 {
			return hub.Errorf(hub.EConflict, "your hand is already raised")
		}
		if f := c.st.Floor; f != nil && f.Invitee == v.ID {
			return hub.Errorf(hub.EConflict, "you have the floor")
		}
		return c.emit(EvHandRaised, v.ID, evHand{Invitee: v.ID, Item: c.st.CurrentItem})
	})
}

// LowerHand takes a hand out of the queue: one's own, or anyone's for the chair.
func (p *Proceedings) LowerHand(ctx context.Context, who *Invitee, invitee int64) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.actor(who)
		if err != nil {
			return err
		}
		if invitee == 0 {
			invitee = v.ID
		}
		if invitee != v.ID && v.Role != RoleChair {
			return hub.Errorf(hub.EForbidden, "only the chair may lower someone else's hand")
		}
		if c.st.inQueue(c.st.CurrentItem, invitee) < 0 {
			return hub.Errorf(hub.EConflict, "invitee %d has no hand raised on this item", invitee)
		}
		return c.emit(EvHandLowered, v.ID, evHand{Invitee: invitee, Item: c.st.CurrentItem})
	})
}

// GiveFloor gives the floor to a participant (the chair); whoever had it
// finishes.
func (p *Proceedings) GiveFloor(ctx context.Context, who *Invitee, invitee int64) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "give the floor")
		if err != nil {
			return err
		}
		if err := c.mustBeOpen(); err != nil {
			return err
		}
		t, err := c.target(invitee, "invitee")
		if err != nil {
			return err
		}
		if t.Role == RoleObserver {
			return hub.FieldError("invitee", "%s is an observer", t.Name)
		}
		if !present(c.st.StatusOf(t.ID)) {
			return hub.FieldError("invitee", "%s is not present", t.Name)
		}
		if f := c.st.Floor; f != nil {
			if f.Invitee == t.ID {
				return hub.Errorf(hub.EConflict, "%s already has the floor", t.Name)
			}
			if err := c.emit(EvFloorEnded, v.ID, evFloorEnded{Invitee: f.Invitee, Item: f.Item,
				Seconds: int64(c.now.Sub(f.From).Seconds())}); err != nil {
				return err
			}
		}
		return c.emit(EvFloorGiven, v.ID, evHand{Invitee: t.ID, Item: c.st.CurrentItem})
	})
}

// EndFloor ends the current speech: the chair, or the speaker.
func (p *Proceedings) EndFloor(ctx context.Context, who *Invitee) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.actor(who)
		if err != nil {
			return err
		}
		f := c.st.Floor
		if f == nil {
			return hub.Errorf(hub.EConflict, "nobody has the floor")
		}
		if v.Role != RoleChair && f.Invitee != v.ID {
			return hub.Errorf(hub.EForbidden, "only the chair or the speaker may end the speech")
		}
		return c.emit(EvFloorEnded, v.ID, evFloorEnded{Invitee: f.Invitee, Item: f.Item,
			Seconds: int64(c.now.Sub(f.From).Seconds())})
	})
}
