package meetings

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// maxMinutesRunes bounds the minutes text.
const maxMinutesRunes = 200_000

// MinutesRecord is the minutes of a meeting as they stand.
type MinutesRecord struct {
	Meeting    int64      `json:"meeting"`
	State      string     `json:"state"` // draft or approved
	Revision   int        `json:"revision"`
	Text       string     `json:"text"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
	SHA256     string     `json:"sha256,omitempty"`
	KeyID      string     `json:"key_id,omitempty"`
	Signature  string     `json:"signature,omitempty"`
}

// minutesInput gathers a draft's input inside the command's transaction;
// the log is the stored events plus those this command emitted so far.
func (c *cmd) minutesInput() (MinutesInput, error) {
	in := MinutesInput{Meeting: *c.m, Agenda: c.agenda, Invitees: sortedInvitees(c.invitees)}
	if err := c.tx.QueryRow(c.ctx, `SELECT coalesce((SELECT name FROM admin_units WHERE code=$1 AND valid_to IS NULL), $1)`,
		c.m.Unit).Scan(&in.UnitName); err != nil {
		return in, err
	}
	var err error
	if in.Documents, err = loadDocuments(c.ctx, c.tx, c.m.ID, 0); err != nil {
		return in, err
	}
	stored := c.st.Seq - int64(len(c.events))
	if in.Events, err = loadEvents(c.ctx, c.tx, c.m.ID, 0, stored); err != nil {
		return in, err
	}
	in.Events = append(in.Events, c.events...)
	return in, nil
}

// draftMinutes (re)writes the draft from the log as a new revision.
func (p *Proceedings) draftMinutes(c *cmd, author int64) error {
	in, err := c.minutesInput()
	if err != nil {
		return err
	}
	text, err := DraftMinutes(in)
	if err != nil {
		return err
	}
	rev, err := c.writeMinutes(text, author)
	if err != nil {
		return err
	}
	return c.emit(EvMinutesDrafted, author, evMinutes{Revision: rev})
}

// writeMinutes stores text as the next revision of the draft.
func (c *cmd) writeMinutes(text string, author int64) (int, error) {
	var a *int64
	if author != 0 {
		a = &author
	}
	var rev int
	err := c.tx.QueryRow(c.ctx, `INSERT INTO meeting_minutes(meeting_id, state, text, revision, updated_by, updated_at)
		VALUES ($1, 'draft', $2, 1, $3, $4)
		ON CONFLICT (meeting_id) DO UPDATE SET text=EXCLUDED.text, revision=meeting_minutes.revision+1,
			updated_by=EXCLUDED.updated_by, updated_at=EXCLUDED.updated_at
		RETURNING revision`, c.m.ID, text, a, c.now).Scan(&rev)
	if err != nil {
		return 0, frozenError(err, c.m.ID)
	}
	_, err = c.tx.Exec(c.ctx, `INSERT INTO meeting_minutes_revisions(meeting_id, revision, text, author, at) VALUES ($1,$2,$3,$4,$5)`,
		c.m.ID, rev, text, a, c.now)
	return rev, err
}

// frozenError turns the freeze trigger's refusal into a conflict.
func frozenError(err error, meetingID int64) error {
	if err != nil && strings.Contains(err.Error(), "approved and frozen") {
		return hub.Errorf(hub.EConflict, "the minutes of meeting %d are approved and frozen", meetingID)
	}
	return err
}

// minutesState reads the minutes row under the meeting lock.
func (c *cmd) minutesState() (state string, rev int, err error) {
	err = c.tx.QueryRow(c.ctx, `SELECT state, revision FROM meeting_minutes WHERE meeting_id=$1`, c.m.ID).Scan(&state, &rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, hub.Errorf(hub.ENotFound, "meeting %d has no minutes yet: they are drafted when the meeting closes", c.m.ID)
	}
	return state, rev, err
}

func (c *cmd) editableMinutes(revision int) error {
	if c.m.State != MeetingClosed {
		return hub.Errorf(hub.EConflict, "meeting %d is %s; minutes are written after it closes", c.m.ID, c.m.State)
	}
	state, rev, err := c.minutesState()
	if err != nil {
		return err
	}
	if state == "approved" {
		return hub.Errorf(hub.EConflict, "the minutes of meeting %d are approved and frozen", c.m.ID)
	}
	if revision != rev {
		return &hub.Error{Code: hub.EConflict, Field: "revision",
			Message: "the minutes changed since you loaded them (revision " + strconv.Itoa(rev) + "); reload and try again",
			Details: map[string]any{"revision": rev}}
	}
	return nil
}

// RedraftMinutes replaces the draft with a fresh one from the log (the
// secretary), as revision+1. revision must be the current one.
func (p *Proceedings) RedraftMinutes(ctx context.Context, who *Invitee, revision int) error {
	return p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.secretary(who, "draft the minutes")
		if err != nil {
			return err
		}
		if err := c.editableMinutes(revision); err != nil {
			return err
		}
		return p.draftMinutes(c, v.ID)
	})
}

// SaveMinutes stores the secretary's edit of the draft as a new revision;
// revision is the one the edit started from.
func (p *Proceedings) SaveMinutes(ctx context.Context, who *Invitee, revision int, text string) (int, error) {
	if text == "" || utf8.RuneCountInString(text) > maxMinutesRunes || !utf8.ValidString(text) {
		return 0, hub.FieldError("text", "is required, valid UTF-8, at most %d characters", maxMinutesRunes)
	}
	var rev int
	err := p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.secretary(who, "edit the minutes")
		if err != nil {
			return err
		}
		if err := c.editableMinutes(revision); err != nil {
			return err
		}
		if rev, err = c.writeMinutes(text, v.ID); err != nil {
			return err
		}
		return c.emit(EvMinutesEdited, v.ID, evMinutes{Revision: rev})
	})
	return rev, err
}

// ApproveMinutes approves the minutes at revision (the chair): the text is
// frozen and the whole record — meeting, unit, title, times, revision,
// approver, text and key — signed with the hub's key (communehub-minutes-v2).
// Nothing changes after.
func (p *Proceedings) ApproveMinutes(ctx context.Context, who *Invitee, revision int) (*SignedMinutes, error) {
	err := p.exec(ctx, who.MeetingID, func(c *cmd) error {
		v, err := c.chair(who, "approve the minutes")
		if err != nil {
			return err
		}
		if err := c.editableMinutes(revision); err != nil {
			return err
		}
		m := SignedMinutes{Meeting: c.m.ID, Unit: c.m.Unit, Title: c.m.Title, StartsAt: minutesTime(c.m.StartsAt),
			Revision: revision, ApprovedBy: v.Name, ApprovedAt: minutesTime(c.now.Truncate(time.Microsecond))}
		if c.m.OpenedAt != nil {
			m.OpenedAt = minutesTime(*c.m.OpenedAt)
		}
		if c.m.ClosedAt != nil {
			m.ClosedAt = minutesTime(*c.m.ClosedAt)
		}
		if err := c.tx.QueryRow(ctx, `SELECT n.text, coalesce((SELECT name FROM admin_units WHERE code=$2 AND valid_to IS NULL), '')
			FROM meeting_minutes n WHERE n.meeting_id=$1`, c.m.ID, c.m.Unit).Scan(&m.Text, &m.UnitName); err != nil {
			return err
		}
		rec, err := signMinutesV2(&m, p.signer)
		if err != nil {
			return err
		}
		sum, _ := hex.DecodeString(m.SHA256)
		sig, _ := base64.StdEncoding.DecodeString(m.Signature)
		if _, err := c.tx.Exec(ctx, `UPDATE meeting_minutes SET state='approved', approved_by=$2, approved_at=$3,
			sha256=$4, signature=$5, key_id=$6, record=$7 WHERE meeting_id=$1`,
			c.m.ID, v.ID, c.now, sum, sig, m.KeyID, rec); err != nil {
			return frozenError(err, c.m.ID)
		}
		return c.emit(EvMinutesApproved, v.ID, evMinutes{Revision: revision, SHA256: m.SHA256, KeyID: m.KeyID})
	})
	if err != nil {
		return nil, err
	}
	return p.SignedMinutes(ctx, who.MeetingID)
}

func (c *cmd) secretary(who *Invitee, what string) (*Invitee, error) {
	v, err := c.actor(who)
	if err != nil {
		return nil, err
	}
	if !v.Secretary {
		return nil, hub.Errorf(hub.EForbidden, "only the secretary may %s", what)
	}
	return v, nil
}

// Minutes returns the minutes as they stand (draft or approved).
func (p *Proceedings) Minutes(ctx context.Context, meetingID int64) (*MinutesRecord, error) {
	var r MinutesRecord
	var sum, sig []byte
	var key *string
	err := p.pool.QueryRow(ctx, `SELECT meeting_id, state, revision, text, updated_at, approved_at, sha256, signature, key_id
		FROM meeting_minutes WHERE meeting_id=$1`, meetingID).Scan(&r.Meeting, &r.State, &r.Revision, &r.Text, &r.UpdatedAt,
		&r.ApprovedAt, &sum, &sig, &key)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, merr := p.Meeting(ctx, meetingID); merr != nil {
			return nil, merr
		}
		return nil, hub.Errorf(hub.ENotFound, "meeting %d has no minutes yet: they are drafted when the meeting closes", meetingID)
	}
	if err != nil {
		return nil, err
	}
	if sum != nil {
		r.SHA256 = hex.EncodeToString(sum)
		r.Signature = base64.StdEncoding.EncodeToString(sig)
	}
	if key != nil {
		r.KeyID = *key
	}
	return &r, nil
}

// SignedMinutes returns approved minutes with their signature; EConflict
// while they are a draft. Minutes approved with a record are served as
// that record (v2); older ones as communehub-minutes-v1.
func (p *Proceedings) SignedMinutes(ctx context.Context, meetingID int64) (*SignedMinutes, error) {
	var s SignedMinutes
	var sum, sig, pub, rec []byte
	var state string
	var at *time.Time
	var key *string
	err := p.pool.QueryRow(ctx, `SELECT m.id, m.unit_code, m.title, n.state, n.revision, coalesce(i.name,''), n.approved_at, n.text,
		n.sha256, n.signature, n.key_id, k.public_key, n.record
		FROM meeting_minutes n JOIN meetings m ON m.id=n.meeting_id
		LEFT JOIN meeting_invitees i ON i.id=n.approved_by LEFT JOIN signing_keys k ON k.key_id=n.key_id
		WHERE n.meeting_id=$1`, meetingID).Scan(&s.Meeting, &s.Unit, &s.Title, &state, &s.Revision, &s.ApprovedBy, &at,
		&s.Text, &sum, &sig, &key, &pub, &rec)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, merr := p.Meeting(ctx, meetingID); merr != nil {
			return nil, merr
		}
		return nil, hub.Errorf(hub.ENotFound, "meeting %d has no minutes yet", meetingID)
	}
	if err != nil {
		return nil, err
	}
	if state != "approved" || at == nil || key == nil {
		return nil, hub.Errorf(hub.EConflict, "the minutes of meeting %d are a draft, not yet approved", meetingID)
	}
	if rec != nil {
		var r SignedMinutes
		if err := json.Unmarshal(rec, &r); err != nil {
			return nil, fmt.Errorf("minutes of meeting %d: stored record: %w", meetingID, err)
		}
		r.Signature = base64.StdEncoding.EncodeToString(sig)
		return &r, nil
	}
	s.ApprovedAt, s.KeyID = minutesTime(*at), *key
	s.Format = MinutesFormatV1
	s.SHA256 = hex.EncodeToString(sum)
	s.Signature = base64.StdEncoding.EncodeToString(sig)
	s.PublicKey = base64.StdEncoding.EncodeToString(pub)
	return &s, nil
}

// VerifyMinutes checks signed minutes against every key the hub knows.
func (p *Proceedings) VerifyMinutes(ctx context.Context, m *SignedMinutes) (Verification, error) {
	keys, err := p.trustedKeys(ctx)
	if err != nil {
		return Verification{}, err
	}
	return m.Verify(keys), nil
}

// VerifyCopy checks a copy of signed minutes (JSON or PDF) against every
// key the hub knows.
func (p *Proceedings) VerifyCopy(ctx context.Context, c *MinutesCopy) (Verification, error) {
	keys, err := p.trustedKeys(ctx)
	if err != nil {
		return Verification{}, err
	}
	return c.Verify(keys), nil
}

func (p *Proceedings) trustedKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	keys, err := KnownKeys(ctx, p.pool)
	if err != nil {
		return nil, err
	}
	keys[p.signer.KeyID()] = p.signer.PublicKey()
	return keys, nil
}
