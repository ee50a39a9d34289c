package backlog

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

// ProcedureInput is the body of PUT /api/v1/procedures/{code}.
type ProcedureInput struct {
	Name                string    `json:"name"`
	FieldCode           string    `json:"field_code"`
	OnlineLevel         string    `json:"online_level"`
	HasFee              *bool     `json:"has_fee"`
	RequiresPaperResult *bool     `json:"requires_paper_result"`
	Deadline            *Deadline `json:"deadline"`
}

var procCodePattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$`)

func (in *ProcedureInput) validate(code string) (*Procedure, error) {
	if !procCodePattern.MatchString(code) {
		return nil, hub.FieldError("code", "must be a national procedure code such as 1.000894")
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 1000 {
		return nil, hub.FieldError("name", "is required (at most 1000 bytes)")
	}
	switch in.OnlineLevel {
	case "none", "partial", "full":
	default:
		return nil, hub.FieldError("online_level", "must be none, partial or full")
	}
	if in.HasFee == nil {
		return nil, hub.FieldError("has_fee", "is required (true or false)")
	}
	if in.RequiresPaperResult == nil {
		return nil, hub.FieldError("requires_paper_result", "is required (true or false)")
	}
	if in.Deadline == nil {
		return nil, hub.FieldError("deadline", `is required: {"value":N,"unit":"working_day|day|hour|month"}`)
	}
	switch in.Deadline.Unit {
	case "working_day", "day", "hour", "month":
	default:
		return nil, hub.FieldError("deadline.unit", "must be working_day, day, hour or month")
	}
	if in.Deadline.Value < 0 || in.Deadline.Value > 3650 {
		return nil, hub.FieldError("deadline.value", "must be between 0 and 3650")
	}
	if len(in.FieldCode) > 64 {
		return nil, hub.FieldError("field_code", "at most 64 bytes")
	}
	return &Procedure{Code: code, Name: in.Name, FieldCode: in.FieldCode, OnlineLevel: in.OnlineLevel,
		HasFee: *in.HasFee, RequiresPaperResult: *in.RequiresPaperResult, Deadline: *in.Deadline}, nil
}

const procedureCols = `id, code, name, field_code, online_level, has_fee, requires_paper_result, deadline_value, deadline_unit, version, updated_at`

func scanProcedure(r pgx.CollectableRow) (Procedure, error) {
	var p Procedure
	err := r.Scan(&p.ID, &p.Code, &p.Name, &p.FieldCode, &p.OnlineLevel, &p.HasFee, &p.RequiresPaperResult,
		&p.Deadline.Value, &p.Deadline.Unit, &p.Version, &p.UpdatedAt)
	return p, err
}

func listProcedures(ctx context.Context, db dbtx) ([]Procedure, error) {
	rows, err := db.Query(ctx, `SELECT `+procedureCols+` FROM procedures ORDER BY code`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanProcedure)
}

// Procedures lists the catalogue.
func (s *Service) Procedures(ctx context.Context) ([]Procedure, error) {
	return listProcedures(ctx, s.pool)
}

// PutProcedure creates or replaces a procedure. Identical input changes
// nothing; a change bumps the version. When the fee or paper-result flags
// change, the aggregates of every commune with dossiers of the procedure
// are rebuilt and republished in the same transaction.
func (s *Service) PutProcedure(ctx context.Context, code string, in ProcedureInput) (p *Procedure, created, changed bool, err error) {
	np, err := in.validate(code)
	if err != nil {
		return nil, false, false, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+procedureCols+` FROM procedures WHERE code=$1 FOR UPDATE`, code)
		if err != nil {
			return err
		}
		old, err := pgx.CollectExactlyOneRow(rows, scanProcedure)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			created, changed = true, true
			rows, err := tx.Query(ctx, `INSERT INTO procedures (code, name, field_code, online_level, has_fee, requires_paper_result, deadline_value, deadline_unit)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING `+procedureCols,
				code, np.Name, np.FieldCode, np.OnlineLevel, np.HasFee, np.RequiresPaperResult, np.Deadline.Value, np.Deadline.Unit)
			if err != nil {
				return err
			}
			got, err := pgx.CollectExactlyOneRow(rows, scanProcedure)
			p = &got
			return err
		case err != nil:
			return err
		}
		if old.Name == np.Name && old.FieldCode == np.FieldCode && old.OnlineLevel == np.OnlineLevel && old.HasFee == np.HasFee &&
			old.RequiresPaperResult == np.RequiresPaperResult && old.Deadline == np.Deadline {
			p = &old
			return nil
		}
		changed = true
		rows, err = tx.Query(ctx, `UPDATE procedures SET name=$2, field_code=$3, online_level=$4, has_fee=$5, requires_paper_result=$6,
			deadline_value=$7, deadline_unit=$8, version=version+1, updated_at=now() WHERE id=$1 RETURNING `+procedureCols,
			old.ID, np.Name, np.FieldCode, np.OnlineLevel, np.HasFee, np.RequiresPaperResult, np.Deadline.Value, np.Deadline.Unit)
		if err != nil {
			return err
		}
		got, err := pgx.CollectExactlyOneRow(rows, scanProcedure)
		if err != nil {
			return err
		}
		p = &got
		if old.HasFee == np.HasFee && old.RequiresPaperResult == np.RequiresPaperResult {
			return nil
		}
		// The contribution of every dossier of this procedure changes.
		units, err := unitsWithProcedure(ctx, tx, old.ID)
		if err != nil || len(units) == 0 {
			return err
		}
		if err := s.lockProvinces(ctx, tx, provincesOf(units)); err != nil {
			return err
		}
		flags := s.procs.snapshotFlags()
		flags[old.ID] = procFlags{HasFee: np.HasFee, RequiresPaperResult: np.RequiresPaperResult}
		if err := rebuildAggregates(ctx, tx, keys(units), flags); err != nil {
			return err
		}
		return s.publish(ctx, tx, units)
	})
	if err != nil {
		return nil, false, false, err
	}
	if changed {
		if err := s.procs.load(ctx, s.pool); err != nil {
			s.log.Warn("reload procedures", "err", err)
		}
	}
	return p, created, changed, nil
}

func unitsWithProcedure(ctx context.Context, tx pgx.Tx, procID int) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT unit_code, province_code FROM dossiers WHERE procedure_id=$1`, procID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var u, p string
	_, err = pgx.ForEachRow(rows, []any{&u, &p}, func() error { out[u] = p; return nil })
	return out, err
}

func (p *procCache) snapshotFlags() map[int]procFlags {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[int]procFlags, len(p.byID))
	for id, pr := range p.byID {
		out[id] = procFlags{HasFee: pr.HasFee, RequiresPaperResult: pr.RequiresPaperResult}
	}
	return out
}

func provincesOf(units map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range units {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Agency is a receiving or handling agency.
type Agency struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Unit      string    `json:"unit"`
	Kind      string    `json:"kind"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AgencyInput is the body of PUT /api/v1/agencies/{code}.
type AgencyInput struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	Kind string `json:"kind"`
}

// PutAgency creates or replaces an agency.
func (s *Service) PutAgency(ctx context.Context, code string, in AgencyInput) (*Agency, error) {
	if !procCodePattern.MatchString(code) {
		return nil, hub.FieldError("code", "must be 1–64 letters, digits, '.', '_' or '-'")
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, hub.FieldError("name", "is required")
	}
	if _, _, err := s.units.lookup(in.Unit); err != nil {
		return nil, unprocessable("unit", "no current commune or province %q", in.Unit)
	}
	if in.Kind == "" {
		in.Kind = "other"
	}
	switch in.Kind {
	case "ubnd_xa", "ttpvhcc_xa", "ubnd_tinh", "so_nganh", "other":
	default:
		return nil, hub.FieldError("kind", "must be ubnd_xa, ttpvhcc_xa, ubnd_tinh, so_nganh or other")
	}
	a := &Agency{Code: code, Name: strings.TrimSpace(in.Name), Unit: in.Unit, Kind: in.Kind}
	err := s.pool.QueryRow(ctx, `INSERT INTO agencies (code, name, unit_code, kind) VALUES ($1,$2,$3,$4)
		ON CONFLICT (code) DO UPDATE SET name=excluded.name, unit_code=excluded.unit_code, kind=excluded.kind, updated_at=now()
		RETURNING updated_at`, a.Code, a.Name, a.Unit, a.Kind).Scan(&a.UpdatedAt)
	return a, err
}

// Agencies lists agencies, of one unit when unit is set.
func (s *Service) Agencies(ctx context.Context, unit string) ([]Agency, error) {
	rows, err := s.pool.Query(ctx, `SELECT code, name, unit_code, kind, updated_at FROM agencies
		WHERE $1 = '' OR unit_code = $1 ORDER BY code`, unit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Agency, error) {
		var a Agency
		return a, r.Scan(&a.Code, &a.Name, &a.Unit, &a.Kind, &a.UpdatedAt)
	})
}

func listHolidays(ctx context.Context, db dbtx, year int) ([]Holiday, error) {
	rows, err := db.Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), name, kind FROM holidays
		WHERE $1 = 0 OR extract(year FROM day) = $1 ORDER BY day`, year)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Holiday, error) {
		var h Holiday
		return h, r.Scan(&h.Day, &h.Name, &h.Kind)
	})
}

// Holidays lists the holiday table (one year when year > 0).
func (s *Service) Holidays(ctx context.Context, year int) ([]Holiday, error) {
	return listHolidays(ctx, s.pool, year)
}

// PutHoliday adds or replaces a holiday (or worked weekend day) and
// reloads the calendar. Due dates already computed keep their value.
func (s *Service) PutHoliday(ctx context.Context, day string, name, kind string) (*Holiday, error) {
	t, err := time.ParseInLocation(time.DateOnly, day, VN)
	if err != nil {
		return nil, hub.FieldError("date", "must be YYYY-MM-DD")
	}
	if strings.TrimSpace(name) == "" {
		return nil, hub.FieldError("name", "is required")
	}
	if kind == "" {
		kind = "holiday"
	}
	if kind != "holiday" && kind != "workday" {
		return nil, hub.FieldError("kind", "must be holiday or workday")
	}
	wd := t.Weekday()
	if kind == "workday" && wd != time.Saturday && wd != time.Sunday {
		return nil, unprocessable("kind", "%s is a weekday: only a weekend day can be a worked day", day)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO holidays (day, name, kind) VALUES ($1,$2,$3)
		ON CONFLICT (day) DO UPDATE SET name=excluded.name, kind=excluded.kind, updated_at=now()`, day, strings.TrimSpace(name), kind); err != nil {
		return nil, err
	}
	if err := s.calendarChanged(ctx); err != nil {
		return nil, err
	}
	return &Holiday{Day: day, Name: strings.TrimSpace(name), Kind: kind}, nil
}

// DeleteHoliday removes a day from the holiday table.
func (s *Service) DeleteHoliday(ctx context.Context, day string) error {
	if _, err := time.ParseInLocation(time.DateOnly, day, VN); err != nil {
		return hub.FieldError("date", "must be YYYY-MM-DD")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM holidays WHERE day=$1`, day)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return hub.Errorf(hub.ENotFound, "no holiday on %s", day)
	}
	return s.calendarChanged(ctx)
}

// calendarChanged reloads the working-day calendar and republishes every
// commune with open dossiers or documents: "due soon" counts in working
// days, so a new holiday changes it without any dossier changing.
func (s *Service) calendarChanged(ctx context.Context) error {
	if err := s.cal.Load(ctx, s.pool); err != nil {
		return err
	}
	s.poke()
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT unit_code FROM dossiers WHERE state = 1
		UNION SELECT DISTINCT unit_code FROM incoming_docs WHERE ended_at IS NULL`)
	if err != nil {
		return err
	}
	units, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	return s.Republish(ctx, units)
}
