package meetings

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// Meeting states.
const (
	MeetingScheduled = "scheduled"
	MeetingOpen      = "open"
	MeetingClosed    = "closed"
	MeetingCancelled = "cancelled"
)

// Meeting is a meeting's record. Its fields are in the order of
// meetingColumns: lists scan it by position.
type Meeting struct {
	ID         int64      `json:"id"`
	Unit       string     `json:"unit"`
	Title      string     `json:"title"`
	StartsAt   time.Time  `json:"starts_at"`
	EndsAt     *time.Time `json:"ends_at"`
	Location   string     `json:"location"`
	Online     bool       `json:"online"`
	Seats      int        `json:"seats"`
	QuorumRule QuorumRule `json:"quorum_rule"`
	PassRule   PassRule   `json:"pass_rule"`
	State      string     `json:"state"`
	OpenedAt   *time.Time `json:"opened_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	LastSeq    int64      `json:"last_seq"`
	CreatedAt  time.Time  `json:"created_at"`
}

// InviteeRole is what an invitee may do in a meeting.
type InviteeRole string

// Invitee roles: chair and members hold the seats and vote; guests may ask
// for the floor; observers only follow.
const (
	RoleChair    InviteeRole = "chair"
	RoleMember   InviteeRole = "member"
	RoleGuest    InviteeRole = "guest"
	RoleObserver InviteeRole = "observer"
)

// ParseInviteeRole validates a role name.
func ParseInviteeRole(s string) (InviteeRole, error) {
	switch r := InviteeRole(s); r {
	case RoleChair, RoleMember, RoleGuest, RoleObserver:
		return r, nil
	}
	return "", errors.New("must be chair, member, guest or observer")
}

// Invitee is a person invited to a meeting. Its fields are in the order of
// inviteeColumns: lists scan it by position.
type Invitee struct {
	ID        int64       `json:"id"`
	MeetingID int64       `json:"meeting"`
	UserID    *int64      `json:"user_id"`
	Username  string      `json:"username,omitempty"`
	Name      string      `json:"name"`
	Position  string      `json:"position"`
	Role      InviteeRole `json:"role"`
	Secretary bool        `json:"secretary"`
	Guest     bool        `json:"has_invite_link"` // joins with a one-time invite link
}

// Votes reports whether the invitee holds a seat.
func (i *Invitee) Votes() bool { return i.Role == RoleChair || i.Role == RoleMember }

// AgendaItem is one item of a meeting's agenda.
type AgendaItem struct {
	ID        int64  `json:"id"`
	Position  int    `json:"position"`
	Title     string `json:"title"`
	Presenter string `json:"presenter,omitempty"`
	Notes     string `json:"notes,omitempty"`
}

// MeetingInput creates or changes a meeting.
type MeetingInput struct {
	Unit       string     `json:"unit"`
	Title      string     `json:"title"`
	StartsAt   time.Time  `json:"starts_at"`
	EndsAt     *time.Time `json:"ends_at"`
	Location   string     `json:"location"`
	Online     *bool      `json:"online"`
	Seats      int        `json:"seats"`
	QuorumRule string     `json:"quorum_rule"`
	PassRule   string     `json:"pass_rule"`
}

func (in *MeetingInput) validate() error {
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" || utf8.RuneCountInString(in.Title) > 300 {
		return hub.FieldError("title", "is required, at most 300 characters")
	}
	if in.StartsAt.IsZero() {
		return hub.FieldError("starts_at", "is required (RFC 3339 time, e.g. 2026-12-01T08:00:00+07:00)")
	}
	if in.EndsAt != nil && !in.EndsAt.After(in.StartsAt) {
		return hub.FieldError("ends_at", "must be after starts_at")
	}
	if utf8.RuneCountInString(in.Location) > 300 {
		return hub.FieldError("location", "at most 300 characters")
	}
	if in.Seats < 1 || in.Seats > 1000 {
		return hub.FieldError("seats", "must be 1–1000: the number of seats counted for quorum and votes")
	}
	if in.QuorumRule == "" {
		in.QuorumRule = string(QuorumTwoThirdsOfSeats)
	}
	if _, err := ParseQuorumRule(in.QuorumRule); err != nil {
		return hub.FieldError("quorum_rule", "%v", err)
	}
	if in.PassRule == "" {
		in.PassRule = string(PassMajorityOfSeats)
	}
	if _, err := ParsePassRule(in.PassRule); err != nil {
		return hub.FieldError("pass_rule", "%v", err)
	}
	if in.Online == nil {
		t := true
		in.Online = &t
	}
	return nil
}

// CreateMeeting schedules a meeting of a commune or province.
func (p *Proceedings) CreateMeeting(ctx context.Context, by *hub.Principal, in MeetingInput) (*Meeting, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	if _, err := p.units.Get(ctx, in.Unit); err != nil {
		if hub.ErrorCode(err) == hub.ENotFound {
			return nil, hub.FieldError("unit", "no administrative unit %q", in.Unit)
		}
		return nil, err
	}
	var createdBy *int64
	if by != nil && by.Kind == "user" {
		createdBy = &by.ID
	}
	var m *Meeting
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var err error
		m, err = insertMeeting(ctx, tx, &in, createdBy)
		if err != nil {
			return err
		}
		return p.publishUnit(ctx, tx, m.Unit)
	})
	return m, err
}

// UpdateMeeting changes a meeting that has not closed.
func (p *Proceedings) UpdateMeeting(ctx context.Context, id int64, in MeetingInput) (*Meeting, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *Meeting
	err := p.exec(ctx, id, func(c *cmd) error {
		if c.m.State == MeetingClosed || c.m.State == MeetingCancelled {
			return hub.Errorf(hub.EConflict, "meeting %d is %s; its record cannot change", id, c.m.State)
		}
		if in.Unit != c.m.Unit {
			return hub.FieldError("unit", "a meeting cannot move to another unit")
		}
		if c.m.State != MeetingScheduled && (in.Seats != c.m.Seats || QuorumRule(in.QuorumRule) != c.m.QuorumRule || PassRule(in.PassRule) != c.m.PassRule) {
			return hub.Errorf(hub.EConflict, "meeting %d is open: its seats, quorum rule and pass rule are fixed", id)
		}
		var err error
		before := c.m.AccessEnds()
		out, err = updateMeeting(ctx, c.tx, id, &in)
		if err != nil {
			return err
		}
		c.m = out
		c.unitChanged = true
		if after := out.AccessEnds(); after.Before(before) && !c.now.Before(after) {
			return c.revokeAccess(0, RevokedRescheduled) // moved so far back that guests' passes ended
		}
		return nil
	})
	return out, err
}

// CancelMeeting cancels a meeting that has not opened.
func (p *Proceedings) CancelMeeting(ctx context.Context, id int64) error {
	return p.exec(ctx, id, func(c *cmd) error {
		if c.m.State != MeetingScheduled {
			return hub.Errorf(hub.EConflict, "meeting %d is %s; only a scheduled meeting can be cancelled", id, c.m.State)
		}
		if err := cancelMeeting(ctx, c.tx, id); err != nil {
			return err
		}
		c.m.State = MeetingCancelled
		c.unitChanged = true
		return c.revokeAccess(0, RevokedCancelled)
	})
}

// Meeting returns a meeting's record.
func (p *Proceedings) Meeting(ctx context.Context, id int64) (*Meeting, error) {
	m, err := getMeeting(ctx, p.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "no meeting %d", id)
	}
	return m, err
}

// ListMeetings lists the meetings of a unit (all units when empty) that
// start in [from, to), soonest first.
func (p *Proceedings) ListMeetings(ctx context.Context, unit string, from, to time.Time) ([]*Meeting, error) {
	return listMeetings(ctx, p.pool, unit, from, to)
}

// MeetingsOf lists the meetings a user is invited to, from a time on.
func (p *Proceedings) MeetingsOf(ctx context.Context, userID int64, from time.Time) ([]*Meeting, error) {
	return meetingsOfUser(ctx, p.pool, userID, from)
}

// InviteeInput invites someone: a user of the hub (UserID or Username), or
// a guest by name who gets a one-time invite link.
type InviteeInput struct {
	UserID    int64  `json:"user_id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	Position  string `json:"position"`
	Role      string `json:"role"`
	Secretary bool   `json:"secretary"`
}

// Invite adds an invitee. For a guest without an account it returns the
// invite token, shown once (only its SHA-256 is stored).
func (p *Proceedings) Invite(ctx context.Context, meetingID int64, in InviteeInput) (inv *Invitee, token string, err error) {
	role, rerr := ParseInviteeRole(in.Role)
	if rerr != nil {
		return nil, "", hub.FieldError("role", "%v", rerr)
	}
	in.Name = strings.TrimSpace(in.Name)
	if utf8.RuneCountInString(in.Name) > 200 || utf8.RuneCountInString(in.Position) > 200 {
		return nil, "", hub.FieldError("name", "name and position are at most 200 characters")
	}
	err = p.exec(ctx, meetingID, func(c *cmd) error {
		if c.m.State == MeetingClosed || c.m.State == MeetingCancelled {
			return hub.Errorf(hub.EConflict, "meeting %d is %s; invitees cannot change", meetingID, c.m.State)
		}
		var userID *int64
		if in.UserID != 0 || in.Username != "" {
			id, username, display, err := activeUser(ctx, c.tx, in.UserID, in.Username)
			if errors.Is(err, pgx.ErrNoRows) {
				return hub.FieldError("username", "no active user %q (id %d)", in.Username, in.UserID)
			}
			if err != nil {
				return err
			}
			userID = &id
			if in.Name == "" {
				in.Name = display
				if in.Name == "" {
					in.Name = username
				}
			}
		} else {
			if in.Name == "" {
				return hub.FieldError("name", "a guest needs a name (or give username to invite a user)")
			}
			token = newInviteToken()
		}
		var hash []byte
		if token != "" {
			h := sha256.Sum256([]byte(token))
			hash = h[:]
		}
		var err error
		inv, err = insertInvitee(ctx, c.tx, meetingID, userID, &in, role, hash)
		if err != nil {
			return err
		}
		c.invitees[inv.ID] = inv
		return nil
	})
	return inv, token, err
}

func newInviteToken() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (Go 1.24+)
	return "mtg_" + base64.RawURLEncoding.EncodeToString(b)
}

// Uninvite removes an invitee before the meeting opens.
func (p *Proceedings) Uninvite(ctx context.Context, meetingID, inviteeID int64) error {
	return p.exec(ctx, meetingID, func(c *cmd) error {
		if c.m.State != MeetingScheduled {
			return hub.Errorf(hub.EConflict, "meeting %d is %s; invitees can be removed only before it opens", meetingID, c.m.State)
		}
		found, err := deleteInvitee(ctx, c.tx, meetingID, inviteeID)
		if err == nil && !found {
			return hub.Errorf(hub.ENotFound, "no invitee %d in meeting %d", inviteeID, meetingID)
		}
		if err != nil {
			return err
		}
		delete(c.invitees, inviteeID)
		return c.revokeAccess(inviteeID, RevokedRemoved)
	})
}

// Invitees lists a meeting's invitees: chair first, then members, guests, observers.
func (p *Proceedings) Invitees(ctx context.Context, meetingID int64) ([]*Invitee, error) {
	return loadInvitees(ctx, p.pool, meetingID)
}

// InviteeForUser returns the user's invitee record in a meeting; ENotFound
// for a meeting that does not exist, EForbidden for a user not invited.
// The signaling websocket uses it as its access check.
func (p *Proceedings) InviteeForUser(ctx context.Context, meetingID, userID int64) (*Invitee, error) {
	v, err := inviteeOfUser(ctx, p.pool, meetingID, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, merr := p.Meeting(ctx, meetingID); merr != nil {
			return nil, merr
		}
		return nil, hub.Errorf(hub.EForbidden, "you are not invited to meeting %d", meetingID)
	}
	return v, err
}
