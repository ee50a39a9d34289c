package backlog

import (
	"context"
	"fmt"
	"strings"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

// DossierFilter selects dossiers for the officer page and the API.
type DossierFilter struct {
	Unit      string // commune or province; empty: all
	Statuses  []int
	Class     string // open, overdue, due_soon, within, paused, closed
	Procedure string
	Query     string // code prefix or applicant substring
	Limit     int
	Offset    int

	demoOwned bool // only dossiers the demo created (see demoDossierOwned)
}

// The demo simulator touches only its own records. A dossier is the demo's
// when its creation was recorded with source "demo" (the demo's seed import
// and the simulator's pushes; no user request carries that source); an
// incoming document when the demo registered it or assigned it at seeding.
const (
	demoDossierOwned = "EXISTS (SELECT 1 FROM dossier_events e WHERE e.dossier_id = d.id AND e.kind = 'created' AND e.source = '" + demoSource + "')"
	demoDocOwned     = "(EXISTS (SELECT 1 FROM doc_events e WHERE e.doc_id = i.id AND e.kind = 'created' AND e.actor = '" + demoSource + "')" +
		" OR EXISTS (SELECT 1 FROM doc_assignments a WHERE a.doc_id = i.id AND a.assigned_by = '" + demoSource + "'))"
)

// ListDossiers returns one page of dossiers and whether more follow.
func (s *Service) ListDossiers(ctx context.Context, f DossierFilter) ([]*Dossier, bool, error) {
	now := s.now()
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Unit != "" {
		_, province, err := s.units.lookup(f.Unit)
		if err != nil {
			return nil, false, err
		}
		if province {
			where = append(where, "d.province_code = "+arg(f.Unit))
		} else {
			where = append(where, "d.unit_code = "+arg(f.Unit))
		}
	}
	if f.demoOwned {
		where = append(where, demoDossierOwned)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "d.status = ANY("+arg(f.Statuses)+"::smallint[])")
	}
	if f.Procedure != "" {
		where = append(where, "p.code = "+arg(f.Procedure))
	}
	if f.Query != "" {
		q := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Query)
		where = append(where, "(d.code LIKE "+arg(q+"%")+" OR d.applicant ILIKE "+arg("%"+q+"%")+")")
	}
	order := "d.received_at DESC NULLS LAST, d.id DESC"
	switch f.Class {
	case "open":
		where = append(where, "d.state = 1")
		order = "d.deadline, d.id"
	case "overdue":
		n := arg(now)
		where = append(where, "d.state = 1 AND ((d.paused_since IS NULL AND d.deadline < "+n+") OR d.paused_since > d.deadline)")
		order = "d.deadline, d.id"
	case "due_soon":
		n, soon := arg(now), arg(s.cal.AddWorkingDays(now, s.cfg.DueSoonDays))
		where = append(where, "d.state = 1 AND d.paused_since IS NULL AND d.deadline >= "+n+" AND d.deadline <= "+soon)
		order = "d.deadline, d.id"
	case "within":
		soon := arg(s.cal.AddWorkingDays(now, s.cfg.DueSoonDays))
		where = append(where, "d.state = 1 AND ((d.paused_since IS NULL AND d.deadline > "+soon+") OR (d.paused_since IS NOT NULL AND d.paused_since <= d.deadline))")
	case "paused":
		where = append(where, "d.state = 1 AND d.paused_since IS NOT NULL")
	case "closed":
		where = append(where, "d.state = 2")
		order = "d.closed_at DESC, d.id DESC"
	}
	sql := `SELECT ` + dossierCols + dossierFrom
	if len(where) > 0 {
		sql += "WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY " + order + " LIMIT " + arg(f.Limit+1) + " OFFSET " + arg(f.Offset)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	list, err := pgx.CollectRows(rows, scanDossier)
	if err != nil {
		return nil, false, err
	}
	more := len(list) > f.Limit
	if more {
		list = list[:f.Limit]
	}
	return list, more, nil
}

// DocFilter selects incoming documents.
type DocFilter struct {
	Unit                     string
	Status                   string
	Overdue, Urgent, Backlog bool
	Limit, Offset            int

	demoOwned bool // only documents the demo registered (see demoDocOwned)
}

// ListIncoming returns one page of incoming documents.
func (s *Service) ListIncoming(ctx context.Context, f DocFilter) ([]IncomingDoc, bool, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Unit != "" {
		_, province, err := s.units.lookup(f.Unit)
		if err != nil {
			return nil, false, err
		}
		col := "i.unit_code"
		if province {
			col = "i.province_code"
		}
		where = append(where, col+" = "+arg(f.Unit))
	}
	if f.Status != "" {
		if _, ok := docTransitions[f.Status]; !ok {
			return nil, false, hub.FieldError("status", "unknown status %q", clip(f.Status))
		}
		where = append(where, "i.status = "+arg(f.Status))
	}
	if f.demoOwned {
		where = append(where, demoDocOwned)
	}
	if f.Backlog || f.Overdue {
		where = append(where, "i.ended_at IS NULL")
	}
	if f.Overdue {
		where = append(where, "i.deadline < "+arg(s.now()))
	}
	if f.Urgent {
		where = append(where, "i.urgency <> 'thuong'")
	}
	sql := ""
	if len(where) > 0 {
		sql = "WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY i.received_at DESC, i.id DESC LIMIT " + arg(f.Limit+1) + " OFFSET " + arg(f.Offset)
	list, err := queryIncoming(ctx, s.pool, sql, args...)
	if err != nil {
		return nil, false, err
	}
	more := len(list) > f.Limit
	if more {
		list = list[:f.Limit]
	}
	if list == nil {
		list = []IncomingDoc{}
	}
	return list, more, nil
}

// ListOutgoing returns one page of outgoing documents.
func (s *Service) ListOutgoing(ctx context.Context, unit string, limit, offset int) ([]OutgoingDoc, bool, error) {
	where, args := "", []any{limit + 1, offset}
	if unit != "" {
		_, province, err := s.units.lookup(unit)
		if err != nil {
			return nil, false, err
		}
		col := "o.unit_code"
		if province {
			col = "o.province_code"
		}
		where, args = "WHERE "+col+" = $3", append(args, unit)
	}
	list, err := queryOutgoing(ctx, s.pool, where+" ORDER BY o.issued_at DESC, o.id DESC LIMIT $1 OFFSET $2", args...)
	if err != nil {
		return nil, false, err
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	if list == nil {
		list = []OutgoingDoc{}
	}
	return list, more, nil
}
