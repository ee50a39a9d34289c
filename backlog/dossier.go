package backlog

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/communehub/communehub/hub"
)

// Pause is a stopped clock: a supplement request (status 5) or a wait for
// fees (status 6), from the request to the citizen's return.
type Pause struct {
	Kind      string     `json:"kind"` // supplement or financial
	From      time.Time  `json:"from"`
	To        *time.Time `json:"to,omitempty"`
	DueBefore *time.Time `json:"due_before,omitempty"` // NgayHenTraTruoc
	DueAfter  *time.Time `json:"due_after,omitempty"`  // NgayHenTraMoi
	Source    string     `json:"source"`               // portal (DanhSachHoSoBoSung) or observed (status changes)
}

// movedDue reports whether the portal already moved the appointment date
// for this pause (then its length is not credited again).
func (p Pause) movedDue() bool {
	return p.DueAfter != nil && (p.DueBefore == nil || !p.DueAfter.Equal(*p.DueBefore))
}

// Dossier is a stored dossier. Times are nil when unknown.
type Dossier struct {
	ID               int64      `json:"-"`
	Code             string     `json:"code"`
	ProcedureID      int        `json:"-"`
	ProcedureCode    string     `json:"procedure"`
	ProcedureVersion int        `json:"procedure_version"`
	Unit             string     `json:"unit"`
	SourceUnit       string     `json:"source_unit,omitempty"` // MaDVHC as sent, when a pre-2025 code
	Province         string     `json:"province"`
	Status           int        `json:"status"`
	Channel          int        `json:"channel"`
	ReceivedAt       *time.Time `json:"received_at"`
	DueAt            *time.Time `json:"due_at"`
	DueComputed      bool       `json:"due_computed"`
	ProcessedAt      *time.Time `json:"processed_at"`
	ReturnedAt       *time.Time `json:"returned_at"`
	ClosedAt         *time.Time `json:"closed_at"`
	EndAt            *time.Time `json:"end_at"`
	Deadline         *time.Time `json:"deadline"`
	PausedSince      *time.Time `json:"paused_since"`
	PauseCredit      int64      `json:"pause_credit_seconds"`
	SupplementCount  int        `json:"supplement_count"`
	Pauses           []Pause    `json:"pauses"`
	FeeTotal         int64      `json:"fee_total"`
	PaidOnline       int        `json:"paid_online"`
	Digitized        bool       `json:"digitized"`
	EResult          bool       `json:"e_result"`
	Reused           bool       `json:"reused"`
	PersonalStore    bool       `json:"personal_store"`
	VNeID            bool       `json:"vneid"`
	Negative         bool       `json:"negative"`
	SyncedAt         *time.Time `json:"synced_at"`
	ProcedureName    string     `json:"procedure_name"`
	FieldCode        string     `json:"field_code"`
	ReceiptNo        string     `json:"receipt_no"`
	Applicant        string     `json:"applicant"`
	ApplicantType    int        `json:"applicant_type"`
	Subject          string     `json:"subject"`
	HandlingUnit     string     `json:"handling_unit"`
	Note             string     `json:"note"`
	Fingerprint      []byte     `json:"-"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// State is the folded status: 0 not received, 1 open, 2 closed.
func (d *Dossier) State() int { return stateOf(d.Status) }

// Procedure is a catalogue entry.
type Procedure struct {
	ID                  int       `json:"-"`
	Code                string    `json:"code"`
	Name                string    `json:"name"`
	FieldCode           string    `json:"field_code"`
	OnlineLevel         string    `json:"online_level"`
	HasFee              bool      `json:"has_fee"`
	RequiresPaperResult bool      `json:"requires_paper_result"`
	Deadline            Deadline  `json:"deadline"`
	Version             int       `json:"version"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// unitInfo is a current commune and its province.
type unitInfo struct {
	Code, Name, Province string
}

// buildInput is what building a dossier needs besides the record.
type buildInput struct {
	rec  *PortalRecord
	old  *Dossier // nil when new
	proc *Procedure
	unit unitInfo
	cal  *Calendar
	now  time.Time
}

// buildDossier merges a portal record into the stored dossier (the body
// is the dossier's full state), checks the rules and derives pauses, the
// effective deadline and the end time. It does not touch the database.
func buildDossier(in buildInput) (*Dossier, error) {
	r, old := in.rec, in.old
	if old != nil {
		if err := checkTransition(old.Status, r.Status); err != nil {
			return nil, err
		}
	}
	d := &Dossier{
		Code: r.Code, ProcedureID: in.proc.ID, ProcedureCode: in.proc.Code, ProcedureVersion: in.proc.Version,
		Unit: in.unit.Code, Province: in.unit.Province, Status: r.Status, Channel: r.Channel,
		ReceivedAt: r.ReceivedAt, ProcessedAt: r.ProcessedAt, ReturnedAt: r.ReturnedAt,
		FeeTotal: r.FeeTotal, PaidOnline: r.PaidOnline, Digitized: r.Digitized, EResult: r.EResult,
		Reused: r.Reused, PersonalStore: r.PersonalStore, VNeID: r.VNeID, Negative: r.Negative,
		SyncedAt: r.SyncedAt, ProcedureName: r.ProcedureName, FieldCode: r.FieldCode, ReceiptNo: r.ReceiptNo,
		Applicant: r.Applicant, ApplicantType: r.ApplicantType, Subject: r.Subject,
		HandlingUnit: r.HandlingUnit, Note: r.Note,
	}
	if d.ProcedureName == "" {
		d.ProcedureName = in.proc.Name
	}
	if r.Unit != in.unit.Code {
		d.SourceUnit = r.Unit
	}
	if old != nil {
		d.ID, d.CreatedAt = old.ID, old.CreatedAt
		if old.ProcedureID == d.ProcedureID {
			d.ProcedureVersion = old.ProcedureVersion // the version the dossier was handled under
		}
	}
	received := d.Status != StatusSubmitted && d.Status != StatusRefused
	if d.ReceivedAt == nil && received {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "NgayTiepNhan", Message: fmt.Sprintf("is required for status %d", d.Status)}
	}
	if d.ReceivedAt != nil && d.ReceivedAt.After(in.now.Add(24*time.Hour)) {
		return nil, unprocessable("NgayTiepNhan", "is more than a day in the future")
	}
	// Appointment date: the portal's, else computed from the legal deadline.
	switch {
	case r.DueAt != nil:
		d.DueAt = r.DueAt
	case d.ReceivedAt != nil && old != nil && old.DueComputed && old.DueAt != nil &&
		sameTime(old.ReceivedAt, d.ReceivedAt) && old.ProcedureID == d.ProcedureID:
		d.DueAt, d.DueComputed = old.DueAt, true // stable across holiday edits
	case d.ReceivedAt != nil:
		due := in.cal.DueAt(*d.ReceivedAt, in.proc.Deadline)
		d.DueAt, d.DueComputed = &due, true
	}
	if d.ReceivedAt != nil {
		for _, c := range []struct {
			name string
			t    *time.Time
		}{{"NgayHenTra", d.DueAt}, {"NgayKetThucXuLy", d.ProcessedAt}, {"NgayTra", d.ReturnedAt}} {
			if c.t != nil && c.t.Before(*d.ReceivedAt) {
				return nil, unprocessable(c.name, "%s is before NgayTiepNhan %s", FormatPortalTime(*c.t), FormatPortalTime(*d.ReceivedAt))
			}
		}
	}
	if d.ProcessedAt != nil && d.ReturnedAt != nil && d.ReturnedAt.Before(*d.ProcessedAt) {
		return nil, unprocessable("NgayTra", "is before NgayKetThucXuLy")
	}
	if err := d.derivePauses(r, old, in.now); err != nil {
		return nil, err
	}
	if err := d.deriveClose(old, in.now); err != nil {
		return nil, err
	}
	d.Fingerprint = d.fingerprint()
	return d, nil
}

func unprocessable(field, format string, args ...any) *hub.Error {
	return &hub.Error{Code: hub.EUnprocessable, Field: field, Message: fmt.Sprintf(format, args...)}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// derivePauses sets the pauses, the credited pause time, the supplement
// count and the pause in progress. A DanhSachHoSoBoSung in the body
// replaces the pauses; without it, pauses follow the observed status
// changes (entering 5 or 6 starts one now, leaving it ends it now).
func (d *Dossier) derivePauses(r *PortalRecord, old *Dossier, now time.Time) error {
	var pauses []Pause
	oldStatus := 0
	var oldPauses []Pause
	if old != nil {
		oldStatus, oldPauses = old.Status, old.Pauses
	}
	if r.HasPauseList {
		pauses = append(pauses, r.Pauses...)
	} else {
		pauses = append(pauses, oldPauses...)
		if isPauseStatus(oldStatus) && oldStatus != d.Status {
			if n := len(pauses); n > 0 && pauses[n-1].To == nil {
				end := now
				pauses[n-1].To = &end
			}
		}
	}
	if isPauseStatus(d.Status) {
		if n := len(pauses); n == 0 || pauses[n-1].To != nil {
			from := now
			if old != nil && old.PausedSince != nil && old.Status == d.Status {
				from = *old.PausedSince
			}
			kind := "supplement"
			if d.Status == StatusFinancial {
				kind = "financial"
			}
			pauses = append(pauses, Pause{Kind: kind, From: from, Source: "observed"})
		}
	}
	if pauses == nil {
		pauses = []Pause{}
	}
	d.Pauses, d.PauseCredit, d.SupplementCount, d.PausedSince = pauses, 0, 0, nil
	for i, p := range pauses {
		if d.ReceivedAt != nil && p.From.Before(*d.ReceivedAt) {
			return unprocessable(fmt.Sprintf("DanhSachHoSoBoSung[%d].NgayBoSung", i), "is before NgayTiepNhan")
		}
		if p.Kind == "supplement" {
			d.SupplementCount++
		}
		if p.To != nil && !p.movedDue() {
			d.PauseCredit += int64(p.To.Sub(p.From) / time.Second)
		}
	}
	if n := len(pauses); n > 0 && pauses[n-1].To == nil && isPauseStatus(d.Status) {
		from := pauses[n-1].From
		d.PausedSince = &from
	}
	if d.DueAt != nil {
		dl := d.DueAt.Add(time.Duration(d.PauseCredit) * time.Second)
		d.Deadline = &dl
	}
	return nil
}

// deriveClose sets closed_at (statuses 7–10) and end_at, the end used by
// the on-time rules: the closing time, or the start of a supplement
// request the citizen never answered.
func (d *Dossier) deriveClose(old *Dossier, now time.Time) error {
	d.ClosedAt, d.EndAt = nil, nil
	if stateOf(d.Status) != 2 || d.ReceivedAt == nil {
		return nil
	}
	switch {
	case d.ProcessedAt != nil:
		d.ClosedAt = d.ProcessedAt
	case d.Status == StatusReturned && d.ReturnedAt != nil:
		d.ClosedAt = d.ReturnedAt
	case d.Status == StatusDone || d.Status == StatusReturned:
		return &hub.Error{Code: hub.EInvalid, Field: "NgayKetThucXuLy", Message: fmt.Sprintf("is required for status %d (or NgayTra for 10)", d.Status)}
	case old != nil && old.ClosedAt != nil && stateOf(old.Status) == 2:
		d.ClosedAt = old.ClosedAt
	default:
		t := now
		d.ClosedAt = &t // withdrawn or stopped without a time: when the hub learnt it
	}
	if d.ClosedAt.Before(*d.ReceivedAt) {
		d.ClosedAt = d.ReceivedAt
	}
	end := *d.ClosedAt
	for _, p := range d.Pauses {
		if p.Kind == "supplement" && p.To == nil && p.From.Before(end) {
			end = p.From
		}
	}
	d.EndAt = &end
	return nil
}

// fingerprint hashes everything a body determines, so that the same body
// twice is recognised as no change.
func (d *Dossier) fingerprint() []byte {
	c := *d
	c.ID, c.Fingerprint, c.CreatedAt, c.UpdatedAt, c.ProcedureVersion = 0, nil, time.Time{}, time.Time{}, 0
	norm := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
		return &u
	}
	for _, p := range []**time.Time{&c.ReceivedAt, &c.DueAt, &c.ProcessedAt, &c.ReturnedAt, &c.ClosedAt,
		&c.EndAt, &c.Deadline, &c.PausedSince, &c.SyncedAt} {
		*p = norm(*p)
	}
	ps := make([]Pause, len(c.Pauses))
	for i, p := range c.Pauses {
		p.From = *norm(&p.From)
		p.To, p.DueBefore, p.DueAfter = norm(p.To), norm(p.DueBefore), norm(p.DueAfter)
		ps[i] = p
	}
	c.Pauses = ps
	b, _ := json.Marshal(c) // a struct of plain values: never fails
	h := sha256.Sum256(b)
	return h[:]
}

// OpenClass is how an open dossier stands at a moment.
type OpenClass int

// Open dossier classes.
const (
	OpenWithin  OpenClass = iota // within the deadline (including a pause that started in time)
	OpenDueSoon                  // running and due within the configured working days
	OpenOverdue                  // past the deadline (or paused after it)
)

// classifyOpen classifies an open dossier at t (soon = AddWorkingDays(t, N)):
// a paused dossier is overdue only if it was paused after its deadline.
func classifyOpen(deadline time.Time, pausedSince *time.Time, t, soon time.Time) OpenClass {
	if pausedSince != nil {
		if pausedSince.After(deadline) {
			return OpenOverdue
		}
		return OpenWithin
	}
	switch {
	case t.After(deadline):
		return OpenOverdue
	case !deadline.After(soon):
		return OpenDueSoon
	}
	return OpenWithin
}

// stateAt reconstructs an open dossier's deadline, pause and supplement
// count at an earlier moment t from its pause history (for periods that
// ended in the past).
func (d *Dossier) stateAt(t time.Time) (deadline time.Time, pausedSince *time.Time, supplements int) {
	if d.DueAt == nil {
		return time.Time{}, nil, 0
	}
	var credit time.Duration
	for _, p := range d.Pauses {
		if p.From.After(t) {
			continue
		}
		if p.Kind == "supplement" {
			supplements++
		}
		if p.To == nil && (d.PausedSince == nil || !d.PausedSince.Equal(p.From)) {
			continue // an unanswered request on a dossier that moved on: no pause, no credit
		}
		if p.To == nil || p.To.After(t) {
			from := p.From
			pausedSince = &from
			continue
		}
		if !p.movedDue() {
			credit += p.To.Sub(p.From).Truncate(time.Second)
		}
	}
	return d.DueAt.Add(credit), pausedSince, supplements
}
