package backlog

// The dossiers' storage: reading a dossier, writing it and its history
// (one at a time and by import), the provinces' advisory locks every
// write takes.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

// lockClass is the first key of the backlog's advisory locks ("bl"); the
// second is a province code. Every write takes its provinces' locks, in
// order, before reading what it changes, so the snapshots it publishes
// include every earlier write of the province.
const lockClass = 0x626c

func (s *Service) lockProvinces(ctx context.Context, tx pgx.Tx, provinces []string) error {
	ids := make([]int, 0, len(provinces))
	for _, p := range provinces {
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("province code %q is not numeric", p)
		}
		if !slices.Contains(ids, n) {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClass, id); err != nil {
			return err
		}
	}
	return nil
}

const dossierCols = `d.id, d.code, d.procedure_id, p.code, d.procedure_version, d.unit_code, d.source_unit_code, d.province_code, d.status, d.channel,
	d.received_at, d.due_at, d.due_computed, d.processed_at, d.returned_at, d.closed_at, d.end_at, d.deadline, d.paused_since,
	d.pause_credit_s, d.supplement_count, d.pauses, d.fee_total, d.paid_online, d.digitized, d.e_result, d.reused,
	d.personal_store, d.vneid, d.negative, d.synced_at, d.procedure_name, d.field_code, d.receipt_no, d.applicant,
	d.applicant_type, d.subject, d.handling_unit, d.note, d.fingerprint, d.created_at, d.updated_at`

const dossierFrom = ` FROM dossiers d JOIN procedures p ON p.id = d.procedure_id `

func scanDossier(r pgx.CollectableRow) (*Dossier, error) {
	d := &Dossier{}
	err := r.Scan(&d.ID, &d.Code, &d.ProcedureID, &d.ProcedureCode, &d.ProcedureVersion, &d.Unit, &d.SourceUnit, &d.Province, &d.Status, &d.Channel,
		&d.ReceivedAt, &d.DueAt, &d.DueComputed, &d.ProcessedAt, &d.ReturnedAt, &d.ClosedAt, &d.EndAt, &d.Deadline, &d.PausedSince,
		&d.PauseCredit, &d.SupplementCount, &d.Pauses, &d.FeeTotal, &d.PaidOnline, &d.Digitized, &d.EResult, &d.Reused,
		&d.PersonalStore, &d.VNeID, &d.Negative, &d.SyncedAt, &d.ProcedureName, &d.FieldCode, &d.ReceiptNo, &d.Applicant,
		&d.ApplicantType, &d.Subject, &d.HandlingUnit, &d.Note, &d.Fingerprint, &d.CreatedAt, &d.UpdatedAt)
	if d.Pauses == nil {
		d.Pauses = []Pause{}
	}
	return d, err
}

// Dossier returns a stored dossier by code.
func (s *Service) Dossier(ctx context.Context, code string) (*Dossier, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dossierCols+dossierFrom+`WHERE d.code=$1`, code)
	if err != nil {
		return nil, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDossier)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "no dossier %q", code)
	}
	return d, err
}

// dossierProvince returns a stored dossier's province, "" when there is
// no dossier with code.
func dossierProvince(ctx context.Context, tx pgx.Tx, code string) (string, error) {
	var province string
	err := tx.QueryRow(ctx, `SELECT province_code FROM dossiers WHERE code=$1`, code).Scan(&province)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return province, err
}

// lockDossier reads a dossier and locks its row; nil when there is none.
func lockDossier(ctx context.Context, tx pgx.Tx, code string) (*Dossier, error) {
	rows, err := tx.Query(ctx, `SELECT `+dossierCols+dossierFrom+`WHERE d.code=$1 FOR UPDATE OF d`, code)
	if err != nil {
		return nil, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDossier)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// writeDossier inserts or updates d (d.ID is 0 for a new dossier) and
// sets its id and timestamps.
func writeDossier(ctx context.Context, tx pgx.Tx, d *Dossier) error {
	args := dossierRow(d, false)
	if d.ID == 0 {
		return tx.QueryRow(ctx, `INSERT INTO dossiers (`+dossierWriteCols+`) VALUES (`+placeholders(len(args))+`)
			RETURNING id, created_at, updated_at`, args...).Scan(&d.ID, &d.CreatedAt, &d.UpdatedAt)
	}
	set := ""
	for i, c := range dossierWriteList {
		if i > 0 {
			set += ", "
		}
		set += fmt.Sprintf("%s=$%d", c, i+1)
	}
	args = append(args, d.ID)
	return tx.QueryRow(ctx, `UPDATE dossiers SET `+set+`, updated_at=now() WHERE id=$`+strconv.Itoa(len(args))+`
		RETURNING created_at, updated_at`, args...).Scan(&d.CreatedAt, &d.UpdatedAt)
}

// dossierRow lists a dossier's values in dossierWriteList order (with the
// id first when withID).
func dossierRow(d *Dossier, withID bool) []any {
	row := []any{d.Code, d.ProcedureID, d.ProcedureVersion, d.Unit, d.SourceUnit, d.Province, d.Status, d.State(), d.Channel,
		d.ReceivedAt, d.DueAt, d.DueComputed, d.ProcessedAt, d.ReturnedAt, d.ClosedAt, d.EndAt, d.Deadline, d.PausedSince,
		d.PauseCredit, d.SupplementCount, d.Pauses, d.FeeTotal, d.PaidOnline, d.Digitized, d.EResult, d.Reused,
		d.PersonalStore, d.VNeID, d.Negative, d.SyncedAt, d.ProcedureName, d.FieldCode, d.ReceiptNo, d.Applicant,
		d.ApplicantType, d.Subject, d.HandlingUnit, d.Note, d.Fingerprint}
	if withID {
		return append([]any{d.ID}, row...)
	}
	return row
}

var dossierWriteList = []string{"code", "procedure_id", "procedure_version", "unit_code", "source_unit_code", "province_code", "status", "state", "channel",
	"received_at", "due_at", "due_computed", "processed_at", "returned_at", "closed_at", "end_at", "deadline", "paused_since",
	"pause_credit_s", "supplement_count", "pauses", "fee_total", "paid_online", "digitized", "e_result", "reused",
	"personal_store", "vneid", "negative", "synced_at", "procedure_name", "field_code", "receipt_no", "applicant",
	"applicant_type", "subject", "handling_unit", "note", "fingerprint"}

var dossierWriteCols = func() string {
	s := ""
	for i, c := range dossierWriteList {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return s
}()

func placeholders(n int) string {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// Event is one entry of a dossier's append-only history.
type Event struct {
	ID         int64             `json:"id"`
	DossierID  int64             `json:"-"`
	Code       string            `json:"-" db:"-"` // the dossier's code, while an import builds its history
	At         time.Time         `json:"at"`
	Kind       string            `json:"kind"` // created, status, updated
	FromStatus *int              `json:"from_status"`
	ToStatus   *int              `json:"to_status"`
	Actor      string            `json:"actor"`
	Source     string            `json:"source"`
	Changes    map[string]Change `json:"changes"`
}

// Change is one field's old and new value.
type Change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

func insertEvent(ctx context.Context, tx pgx.Tx, e *Event) error {
	return tx.QueryRow(ctx, `INSERT INTO dossier_events (dossier_id, kind, from_status, to_status, actor, source, changes)
		VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id, at`, e.DossierID, e.Kind, e.FromStatus, e.ToStatus, e.Actor, e.Source, e.Changes).
		Scan(&e.ID, &e.At)
}

// History returns a dossier's events, oldest first.
func (s *Service) History(ctx context.Context, code string) ([]Event, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT id FROM dossiers WHERE code=$1`, code).Scan(&id); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, hub.Errorf(hub.ENotFound, "no dossier %q", code)
		}
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, dossier_id, at, kind, from_status, to_status, actor, source, changes
		FROM dossier_events WHERE dossier_id=$1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Event])
}

// copyDossiers copies new dossiers, id first, from src.
func copyDossiers(ctx context.Context, tx pgx.Tx, src pgx.CopyFromSource) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"dossiers"}, append([]string{"id"}, dossierWriteList...), src)
	return err
}

func existingProvinces(ctx context.Context, tx pgx.Tx, codes []string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT province_code FROM dossiers WHERE code = ANY($1)`, codes)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func loadDossiers(ctx context.Context, tx pgx.Tx, codes []string) (map[string]*Dossier, error) {
	out := map[string]*Dossier{}
	for start := 0; start < len(codes); start += 20000 {
		chunk := codes[start:min(start+20000, len(codes))]
		rows, err := tx.Query(ctx, `SELECT `+dossierCols+dossierFrom+`WHERE d.code = ANY($1) FOR UPDATE OF d`, chunk)
		if err != nil {
			return nil, err
		}
		list, err := pgx.CollectRows(rows, scanDossier)
		if err != nil {
			return nil, err
		}
		for _, d := range list {
			out[d.Code] = d
		}
	}
	return out, nil
}

// writeImported writes the changed stored dossiers (final versions)
// through a COPY into a temporary table and one UPDATE, then the history
// of every change with COPY. New dossiers were copied already.
func writeImported(ctx context.Context, tx pgx.Tx, current map[string]*Dossier, updates []*Dossier, events []*Event) error {
	slices.SortFunc(updates, func(a, b *Dossier) int { return int(a.ID - b.ID) })
	if len(updates) > 0 {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_dossiers (LIKE dossiers) ON COMMIT DROP`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_dossiers"}, append([]string{"id"}, dossierWriteList...),
			pgx.CopyFromSlice(len(updates), func(i int) ([]any, error) { return dossierRow(updates[i], true), nil })); err != nil {
			return fmt.Errorf("copy changed dossiers: %w", err)
		}
		set := ""
		for i, c := range dossierWriteList {
			if i > 0 {
				set += ", "
			}
			set += c + " = t." + c
		}
		if _, err := tx.Exec(ctx, `UPDATE dossiers d SET `+set+`, updated_at = now() FROM import_dossiers t WHERE d.id = t.id`); err != nil {
			return fmt.Errorf("update changed dossiers: %w", err)
		}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"dossier_events"}, []string{"dossier_id", "kind", "from_status", "to_status", "actor", "source", "changes"},
		pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			e := events[i]
			return []any{current[e.Code].ID, e.Kind, e.FromStatus, e.ToStatus, e.Actor, e.Source, e.Changes}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy history: %w", err)
	}
	return nil
}
