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
		old, err := lockProcedure(ctx, tx, code)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			created, changed = true, true
			got, err := insertProcedure(ctx, tx, np)
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
		got, err := updateProcedure(ctx, tx, old.ID, np)
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
	err := upsertAgency(ctx, s.pool, a)
	return a, err
}

// Agencies lists agencies, of one unit when unit is set (ENotFound naming
// unit when it is no current commune or province).
func (s *Service) Agencies(ctx context.Context, unit string) ([]Agency, error) {
	if unit != "" {
		if _, _, err := s.units.lookup(unit); err != nil {
			return nil, err
		}
	}
	return listAgencies(ctx, s.pool, unit)
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
	if err := putHoliday(ctx, s.pool, day, strings.TrimSpace(name), kind); err != nil {
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
	deleted, err := deleteHoliday(ctx, s.pool, day)
	if err != nil {
		return err
	}
	if !deleted {
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
	units, err := unitsWithOpenWork(ctx, s.pool)
	if err != nil {
		return err
	}
	return s.Republish(ctx, units)
}
