package backlog

// The dossier upsert use case (PUT /api/v1/dossiers/{code} and each row
// of an import): parse and resolve the portal record, lock its provinces,
// compare with what is stored, write the dossier and its history event,
// maintain the aggregates and publish the snapshots, retrying when the
// dossier moved province or PostgreSQL asks. The storage it uses is in
// dossier_store.go.

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

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
		oldProvince, err := dossierProvince(ctx, tx, rec.Code)
		if err != nil {
			return err
		}
		locked := []string{unit.Province}
		if oldProvince != "" {
			locked = append(locked, oldProvince)
		}
		if err := s.lockProvinces(ctx, tx, locked); err != nil {
			return err
		}
		old, err := lockDossier(ctx, tx, rec.Code)
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
