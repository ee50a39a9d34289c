package backlog

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
	"github.com/jackc/pgx/v5/pgconn"
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

// UpsertResult says what a dossier upsert did.
type UpsertResult struct {
	Code    string   `json:"code"`
	Created bool     `json:"created"`
	Changed bool     `json:"changed"`
	Status  int      `json:"status"`
	Dossier *Dossier `json:"dossier"`
}

// errRetry restarts a write whose dossier moved to another province
// between the first read and the lock.
var errRetry = errors.New("backlog: retry")

// errUnchanged rolls back a write that would change nothing.
var errUnchanged = errors.New("backlog: unchanged")

// UpsertDossier applies one portal body (PUT /api/v1/dossiers/{code}). The
// same body twice changes nothing and publishes nothing.
func (s *Service) UpsertDossier(ctx context.Context, code string, body []byte, actor, source string) (*UpsertResult, error) {
	res, err := s.upsertDossier(ctx, code, body, actor, source)
	result := "rejected"
	switch {
	case err != nil:
	case res.Created:
		result = "created"
	case res.Changed:
		result = "updated"
	default:
		result = "unchanged"
	}
	s.metrics.upserts.WithLabelValues(result).Inc()
	return res, err
}

func (s *Service) upsertDossier(ctx context.Context, code string, body []byte, actor, source string) (*UpsertResult, error) {
	if !ValidDossierCode(code) {
		return nil, hub.FieldError("code", "must be 1–80 letters, digits, '.', '_' or '-'")
	}
	f, err := jsonFields(body)
	if err != nil {
		return nil, err
	}
	rec, err := parseRecord(f)
	if err != nil {
		return nil, err
	}
	if rec.Code == "" {
		rec.Code = code
	} else if rec.Code != code {
		return nil, hub.FieldError("MaHoSo", "%q does not match the code in the path %q", rec.Code, code)
	}
	proc, unit, err := s.resolve(ctx, rec)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		res, err := s.upsertTx(ctx, rec, proc, unit, actor, source)
		if (errors.Is(err, errRetry) || isRetryable(err)) && attempt < 5 {
			continue
		}
		return res, err
	}
}

// isRetryable reports a deadlock or serialization failure.
func isRetryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}

// resolve finds the record's procedure and commune (422 when unknown).
func (s *Service) resolve(ctx context.Context, rec *PortalRecord) (*Procedure, unitInfo, error) {
	proc, err := s.procedure(ctx, rec.ProcedureCode)
	if err != nil {
		return nil, unitInfo{}, err
	}
	unit, err := s.units.resolveCommune(rec.Unit)
	if err != nil {
		return nil, unitInfo{}, err
	}
	return proc, unit, nil
}

func (s *Service) upsertTx(ctx context.Context, rec *PortalRecord, proc *Procedure, unit unitInfo, actor, source string) (*UpsertResult, error) {
	res := &UpsertResult{Code: rec.Code}
	var wrote *Dossier
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var oldProvince string
		err := tx.QueryRow(ctx, `SELECT province_code FROM dossiers WHERE code=$1`, rec.Code).Scan(&oldProvince)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		locked := []string{unit.Province}
		if oldProvince != "" {
			locked = append(locked, oldProvince)
		}
		if err := s.lockProvinces(ctx, tx, locked); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+dossierCols+dossierFrom+`WHERE d.code=$1 FOR UPDATE OF d`, rec.Code)
		if err != nil {
			return err
		}
		old, err := pgx.CollectExactlyOneRow(rows, scanDossier)
		if errors.Is(err, pgx.ErrNoRows) {
			old, err = nil, nil
		}
		if err != nil {
			return err
		}
		if old != nil && !slices.Contains(locked, old.Province) {
			return errRetry
		}
		now := s.now()
		d, err := buildDossier(buildInput{rec: rec, old: old, proc: proc, unit: unit, cal: s.cal, now: now})
		if err != nil {
			return err
		}
		res.Status = d.Status
		if old != nil && bytes.Equal(old.Fingerprint, d.Fingerprint) {
			res.Dossier = old
			return errUnchanged
		}
		if err := writeDossier(ctx, tx, d); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, historyEvent(old, d, actor, source)); err != nil {
			return err
		}
		delta := newAggDelta()
		if old != nil {
			delta.addDossier(old, s.procs.flags(old.ProcedureID), -1)
		}
		delta.addDossier(d, procFlags{HasFee: proc.HasFee, RequiresPaperResult: proc.RequiresPaperResult}, 1)
		if err := delta.apply(ctx, tx); err != nil {
			return err
		}
		affected := map[string]string{d.Unit: d.Province}
		if old != nil {
			affected[old.Unit] = old.Province
		}
		res.Created, res.Changed = old == nil, true
		wrote = d
		return s.publish(ctx, tx, affected)
	})
	if errors.Is(err, errUnchanged) {
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	res.Dossier = wrote
	s.poke()
	return res, nil
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
	Code       string            `json:"-"` // the dossier's code, while an import builds its history
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

func historyEvent(old, d *Dossier, actor, source string) *Event {
	e := &Event{DossierID: d.ID, Actor: actor, Source: source, Changes: map[string]Change{}}
	to := d.Status
	e.ToStatus = &to
	if old == nil {
		e.Kind = "created"
		return e
	}
	e.Changes = diffDossiers(old, d)
	if old.Status != d.Status {
		from := old.Status
		e.Kind, e.FromStatus = "status", &from
	} else {
		e.Kind = "updated"
	}
	return e
}

func insertEvent(ctx context.Context, tx pgx.Tx, e *Event) error {
	return tx.QueryRow(ctx, `INSERT INTO dossier_events (dossier_id, kind, from_status, to_status, actor, source, changes)
		VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id, at`, e.DossierID, e.Kind, e.FromStatus, e.ToStatus, e.Actor, e.Source, e.Changes).
		Scan(&e.ID, &e.At)
}

// diffDossiers lists the fields (by portal name) that differ.
func diffDossiers(a, b *Dossier) map[string]Change {
	out := map[string]Change{}
	str := func(name, x, y string) {
		if x != y {
			out[name] = Change{x, y}
		}
	}
	num := func(name string, x, y int64) {
		if x != y {
			out[name] = Change{x, y}
		}
	}
	flag := func(name string, x, y bool) {
		if x != y {
			out[name] = Change{x, y}
		}
	}
	tm := func(name string, x, y *time.Time) {
		if !sameTime(x, y) {
			out[name] = Change{fmtTime(x), fmtTime(y)}
		}
	}
	str("MaTTHC", a.ProcedureCode, b.ProcedureCode)
	str("MaDVHC", a.Unit, b.Unit)
	str("MaDVHC (as sent)", a.SourceUnit, b.SourceUnit)
	num("TrangThaiHoSo", int64(a.Status), int64(b.Status))
	num("KenhThucHien", int64(a.Channel), int64(b.Channel))
	tm("NgayTiepNhan", a.ReceivedAt, b.ReceivedAt)
	tm("NgayHenTra", a.DueAt, b.DueAt)
	tm("NgayKetThucXuLy", a.ProcessedAt, b.ProcessedAt)
	tm("NgayTra", a.ReturnedAt, b.ReturnedAt)
	tm("NgayDongBo", a.SyncedAt, b.SyncedAt)
	tm("deadline", a.Deadline, b.Deadline)
	num("DanhSachHoSoBoSung", int64(len(a.Pauses)), int64(len(b.Pauses)))
	num("DanhSachLePhi", a.FeeTotal, b.FeeTotal)
	num("DuocThanhToanTrucTuyen", int64(a.PaidOnline), int64(b.PaidOnline))
	flag("DaSoHoaHoSo", a.Digitized, b.Digitized)
	flag("DuongDanTepTinKetQua", a.EResult, b.EResult)
	flag("HoSoCoThanhPhanSoHoa", a.Reused, b.Reused)
	flag("DuocLayTuKhoDMQG", a.PersonalStore, b.PersonalStore)
	flag("TaiKhoanDuocXacThucVoiVNeID", a.VNeID, b.VNeID)
	flag("KhongHaiLong", a.Negative, b.Negative)
	str("TenTTHC", a.ProcedureName, b.ProcedureName)
	str("MaLinhVuc", a.FieldCode, b.FieldCode)
	str("SoBienNhan", a.ReceiptNo, b.ReceiptNo)
	str("ChuHoSo", a.Applicant, b.Applicant)
	num("LoaiDoiTuong", int64(a.ApplicantType), int64(b.ApplicantType))
	str("TrichYeuHoSo", a.Subject, b.Subject)
	str("DonViXuLy", a.HandlingUnit, b.HandlingUnit)
	str("GhiChu", a.Note, b.Note)
	return out
}

func fmtTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return FormatPortalTime(*t)
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
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.DossierID, &e.At, &e.Kind, &e.FromStatus, &e.ToStatus, &e.Actor, &e.Source, &e.Changes)
		return e, err
	})
}

// rebuildAggregates recomputes the aggregates of units from the stored
// dossiers and documents (used when a procedure's flags change, and by
// tests as the oracle of the maintained aggregates).
func rebuildAggregates(ctx context.Context, tx pgx.Tx, units []string, flags map[int]procFlags) error {
	for _, t := range []string{"kpi_daily", "kpi_monthly", "kpi_fee_year"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE unit_code = ANY($1)`, units); err != nil {
			return err
		}
	}
	delta := newAggDelta()
	rows, err := tx.Query(ctx, `SELECT `+dossierCols+dossierFrom+`WHERE d.unit_code = ANY($1)`, units)
	if err != nil {
		return err
	}
	for rows.Next() {
		d, err := scanDossier(rows)
		if err != nil {
			rows.Close()
			return err
		}
		delta.addDossier(d, flags[d.ProcedureID], 1)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	docs, err := queryIncoming(ctx, tx, `WHERE i.unit_code = ANY($1)`, units)
	if err != nil {
		return err
	}
	for i := range docs {
		delta.addIncoming(&docs[i], 1)
	}
	outs, err := queryOutgoing(ctx, tx, `WHERE o.unit_code = ANY($1)`, units)
	if err != nil {
		return err
	}
	for i := range outs {
		delta.addOutgoing(&outs[i], 1)
	}
	return delta.apply(ctx, tx)
}
