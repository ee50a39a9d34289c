package backlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

// RegisterIncoming records an incoming document and, unless
// register=false, registers it with the next số đến of its book and year.
func (s *Service) RegisterIncoming(ctx context.Context, in IncomingInput, actor string) (*IncomingDoc, error) {
	now := s.now()
	unit, err := s.documentCommune(in.Unit)
	if err != nil {
		return nil, err
	}
	d := &IncomingDoc{Unit: unit.Code, Province: unit.Province}
	if d.Urgency, err = oneOfField("urgency", in.Urgency, "thuong", urgencies); err != nil {
		return nil, err
	}
	if d.Secrecy, err = oneOfField("secrecy", in.Secrecy, "thuong", secrecies); err != nil {
		return nil, err
	}
	if d.Medium, err = oneOfField("medium", in.Medium, "electronic", media); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		src  string
		dst  *string
		max  int
	}{{"reference", in.Reference, &d.Reference, 100}, {"doc_type", in.DocType, &d.DocType, 100},
		{"issuer", in.Issuer, &d.Issuer, 300}, {"subject", in.Subject, &d.Subject, 2000}, {"directive", in.Directive, &d.Directive, 2000}} {
		if *f.dst, err = limitText(f.name, f.src, f.max); err != nil {
			return nil, err
		}
	}
	if d.Subject == "" {
		return nil, hub.FieldError("subject", "is required (trích yếu)")
	}
	book, err := limitText("book", in.Book, 100)
	if err != nil {
		return nil, err
	}
	rec, err := parseAPITime("received_at", in.ReceivedAt)
	if err != nil {
		return nil, err
	}
	d.ReceivedAt = now
	if rec != nil {
		if rec.After(now.Add(time.Hour)) {
			return nil, unprocessable("received_at", "is in the future")
		}
		d.ReceivedAt = *rec
	}
	if in.DocDate != "" {
		t, err := time.ParseInLocation(time.DateOnly, in.DocDate, VN)
		if err != nil {
			return nil, hub.FieldError("doc_date", "must be YYYY-MM-DD")
		}
		if t.After(d.ReceivedAt) {
			return nil, unprocessable("doc_date", "is after received_at")
		}
		dd := in.DocDate
		d.DocDate = &dd
	}
	if d.Deadline, err = parseAPITime("deadline", in.Deadline); err != nil {
		return nil, err
	}
	if d.Deadline != nil && d.Deadline.Before(d.ReceivedAt) {
		return nil, unprocessable("deadline", "is before received_at")
	}
	assigns, err := s.parseAssignments(in.Assignments, d.ReceivedAt, "assignments")
	if err != nil {
		return nil, err
	}
	if d.Urgency != "thuong" {
		ud := s.cal.EndOfWorkingDay(d.ReceivedAt)
		d.UrgentDeadline = &ud
	}
	register := in.Register == nil || *in.Register
	if !register && in.Number != nil {
		return nil, hub.FieldError("number", "cannot be given with register=false")
	}
	d.Status = DocToRegister
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if d.Agency, err = s.checkAgency(ctx, tx, in.Agency); err != nil {
			return err
		}
		if err := s.lockProvinces(ctx, tx, []string{d.Province}); err != nil {
			return err
		}
		if register {
			if err := s.registerLocked(ctx, tx, d, book, in.Number, now); err != nil {
				return err
			}
		}
		if err := insertIncoming(ctx, tx, d); err != nil {
			return err
		}
		if err := s.addAssignments(ctx, tx, d, assigns, actor, now); err != nil {
			return err
		}
		if err := setIncomingPresented(ctx, tx, d); err != nil {
			return err
		}
		if err := docEvent(ctx, tx, d.ID, "created", "", d.Status, actor, map[string]any{"number": d.Number}); err != nil {
			return err
		}
		delta := newAggDelta()
		delta.addIncoming(d, 1)
		if err := delta.apply(ctx, tx); err != nil {
			return err
		}
		return s.publish(ctx, tx, map[string]string{d.Unit: d.Province})
	})
	if err != nil {
		return nil, err
	}
	s.poke()
	return d, nil
}

// registerLocked gives d the next number of its book (the province lock is held).
func (s *Service) registerLocked(ctx context.Context, tx pgx.Tx, d *IncomingDoc, book string, want *int, now time.Time) error {
	name := defaultBook("in", d.Secrecy, book)
	year := d.ReceivedAt.In(VN).Year()
	id, n, err := takeNumber(ctx, tx, d.Unit, "in", name, year, d.Secrecy != "thuong", want, "number")
	if err != nil {
		return err
	}
	d.bookID, d.Number, d.Book, d.Year = &id, &n, &name, &year
	reg := now
	d.RegisteredAt = &reg
	d.Status = DocPending
	return nil
}

func (s *Service) parseAssignments(list []AssignmentInput, notBefore time.Time, field string) ([]Assignment, error) {
	var out []Assignment
	for i, a := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		name, err := limitText(f+".assignee", a.Assignee, 200)
		if err != nil {
			return nil, err
		}
		if name == "" {
			return nil, hub.FieldError(f+".assignee", "is required")
		}
		role, err := oneOfField(f+".role", a.Role, "", docRoles)
		if err != nil {
			return nil, err
		}
		due, err := parseAPITime(f+".due", a.Due)
		if err != nil {
			return nil, err
		}
		if due != nil && due.Before(notBefore) {
			return nil, unprocessable(f+".due", "is before the document was received")
		}
		out = append(out, Assignment{Assignee: name, Role: role, DueAt: due})
	}
	return out, nil
}

// addAssignments stores assignments; assigning presents the document, and
// a lead's deadline becomes the document's when it has none.
func (s *Service) addAssignments(ctx context.Context, tx pgx.Tx, d *IncomingDoc, list []Assignment, actor string, now time.Time) error {
	for i := range list {
		a := &list[i]
		a.AssignedAt, a.AssignedBy = now, actor
		if err := insertAssignment(ctx, tx, d.ID, a); err != nil {
			return err
		}
		if d.PresentedAt == nil {
			p := now
			d.PresentedAt = &p
		}
		if a.Role == "chu_tri" && a.DueAt != nil && d.Deadline == nil {
			dl := *a.DueAt
			d.Deadline = &dl
		}
		d.Assignments = append(d.Assignments, *a)
	}
	return nil
}

// PatchIncoming assigns, sets the deadline or directive, or moves a
// document along its status machine (409 listing the allowed statuses).
func (s *Service) PatchIncoming(ctx context.Context, id int64, in IncomingPatch, actor string) (*IncomingDoc, error) {
	now := s.now()
	var out *IncomingDoc
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		province, err := incomingProvince(ctx, tx, id)
		if err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return hub.Errorf(hub.ENotFound, "no incoming document %d", id)
			}
			return err
		}
		if err := s.lockProvinces(ctx, tx, []string{province}); err != nil {
			return err
		}
		docs, err := queryIncoming(ctx, tx, `WHERE i.id=$1 FOR UPDATE OF i`, id)
		if err != nil {
			return err
		}
		old := docs[0]
		d := old
		changes := map[string]any{}
		if in.Directive != nil {
			if d.Directive, err = limitText("directive", *in.Directive, 2000); err != nil {
				return err
			}
			changes["directive"] = d.Directive
		}
		if in.Deadline != nil {
			if d.Deadline, err = parseAPITime("deadline", *in.Deadline); err != nil {
				return err
			}
			if d.Deadline != nil && d.Deadline.Before(d.ReceivedAt) {
				return unprocessable("deadline", "is before received_at")
			}
			changes["deadline"] = d.Deadline
		}
		assigns, err := s.parseAssignments(in.Assign, d.ReceivedAt, "assign")
		if err != nil {
			return err
		}
		if len(assigns) > 0 && !docBacklog(d.Status) {
			return &hub.Error{Code: hub.EConflict, Field: "assign", Message: fmt.Sprintf("the document is %s: it can no longer be assigned", d.Status)}
		}
		d.Assignments = nil
		if err := s.addAssignments(ctx, tx, &d, assigns, actor, now); err != nil {
			return err
		}
		if len(assigns) > 0 {
			changes["assigned"] = len(assigns)
		}
		for _, aid := range in.DoneIDs {
			done, err := finishAssignment(ctx, tx, id, aid, now)
			if err != nil {
				return err
			}
			if !done {
				return unprocessable("done", "no open assignment %d on document %d", aid, id)
			}
		}
		if in.Status != "" && in.Status != d.Status {
			if _, ok := docTransitions[in.Status]; !ok {
				return hub.FieldError("status", "unknown status %q (cho_vao_so, cho_xu_ly, dang_xu_ly, da_xu_ly, tra_lai, thu_hoi)", clip(in.Status))
			}
			if !slices.Contains(docTransitions[d.Status], in.Status) {
				allowed := docTransitions[d.Status]
				msg := "none: the document is closed"
				if len(allowed) > 0 {
					msg = strings.Join(allowed, ", ")
				}
				return &hub.Error{Code: hub.EConflict, Field: "status",
					Message: fmt.Sprintf("status %s cannot change to %s; allowed from %s: %s", d.Status, in.Status, d.Status, msg),
					Details: map[string]any{"from": d.Status, "to": in.Status, "allowed": append([]string{}, allowed...)}}
			}
			changes["status"] = in.Status
			switch in.Status {
			case DocPending:
				if err := s.registerLocked(ctx, tx, &d, "", nil, now); err != nil {
					return err
				}
				changes["number"] = d.Number
			case DocInProgress:
				if d.PresentedAt == nil {
					d.PresentedAt = &now
				}
			case DocDone:
				if d.PresentedAt == nil {
					d.PresentedAt = &now
				}
				d.CompletedAt, d.EndedAt = &now, &now
			case DocReturned, DocRecalled:
				d.EndedAt = &now
			}
			d.Status = in.Status
		}
		if len(changes) == 0 && len(in.DoneIDs) == 0 {
			out = &old
			return nil
		}
		if err := updateIncoming(ctx, tx, &d); err != nil {
			return err
		}
		kind := "updated"
		if old.Status != d.Status {
			kind = "status"
		}
		if err := docEvent(ctx, tx, d.ID, kind, old.Status, d.Status, actor, changes); err != nil {
			return err
		}
		delta := newAggDelta()
		delta.addIncoming(&old, -1)
		delta.addIncoming(&d, 1)
		if err := delta.apply(ctx, tx); err != nil {
			return err
		}
		out = &d
		return s.publish(ctx, tx, map[string]string{d.Unit: d.Province})
	})
	if err != nil {
		return nil, err
	}
	s.poke()
	return s.IncomingDoc(ctx, out.ID)
}

// IncomingDoc returns a document with its assignments.
func (s *Service) IncomingDoc(ctx context.Context, id int64) (*IncomingDoc, error) {
	docs, err := queryIncoming(ctx, s.pool, `WHERE i.id=$1`, id)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, hub.Errorf(hub.ENotFound, "no incoming document %d", id)
	}
	d := docs[0]
	d.Assignments, err = listAssignments(ctx, s.pool, id)
	return &d, err
}
