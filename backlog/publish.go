package backlog

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

// listCap bounds each list of a backlog snapshot.
const listCap = 20

// DossierItem is a dossier in a backlog snapshot.
type DossierItem struct {
	Code          string    `json:"code"`
	Procedure     string    `json:"procedure"`
	ProcedureName string    `json:"procedure_name"`
	Status        int       `json:"status"`
	ReceivedAt    string    `json:"received_at"`
	DueAt         string    `json:"due_at"`
	Paused        bool      `json:"paused"`
	Subject       string    `json:"subject"`
	Applicant     string    `json:"applicant"`
	deadline      time.Time // for ordering
}

// DocItem is a document in a backlog snapshot.
type DocItem struct {
	ID         int64   `json:"id"`
	Number     *int    `json:"number"`
	Book       *string `json:"book"`
	Code       string  `json:"code"`
	Urgency    string  `json:"urgency"`
	ReceivedAt string  `json:"received_at"`
	Deadline   *string `json:"deadline"`
	Status     string  `json:"status"`
	Subject    string  `json:"subject"`
	Issuer     string  `json:"issuer"`
}

// TrendDay is one day of the 30-day trend.
type TrendDay struct {
	Date     string `json:"date"`
	Received int64  `json:"received"`
	Finished int64  `json:"finished"`
}

// Backlog is the body of commune/{code}/backlog.
type Backlog struct {
	Unit     string `json:"unit"`
	AsOf     string `json:"as_of"`
	Dossiers struct {
		Overdue []DossierItem `json:"overdue"`
		DueSoon []DossierItem `json:"due_soon"`
	} `json:"dossiers"`
	Documents struct {
		Backlog int64     `json:"backlog"`
		Overdue []DocItem `json:"overdue"`
		Urgent  []DocItem `json:"urgent"`
	} `json:"documents"`
	Trend []TrendDay `json:"trend"`
}

func vnTime(t time.Time) string { return t.In(VN).Truncate(time.Second).Format(time.RFC3339) }

// BacklogSnapshot computes a commune's backlog snapshot at now.
func (s *Service) BacklogSnapshot(ctx context.Context, unit string) (*Backlog, error) {
	if _, ok := s.units.commune(unit); !ok {
		return nil, &hub.Error{Code: hub.ENotFound, Field: "unit", Message: fmt.Sprintf("no current commune %q", unit)}
	}
	return s.backlogWith(ctx, s.pool, unit, s.now())
}

func (s *Service) backlogWith(ctx context.Context, db dbtx, unit string, now time.Time) (*Backlog, error) {
	soon := s.cal.AddWorkingDays(now, s.cfg.DueSoonDays)
	bl := &Backlog{Unit: unit, AsOf: vnTime(now)}
	bl.Dossiers.Overdue, bl.Dossiers.DueSoon = []DossierItem{}, []DossierItem{}
	bl.Documents.Overdue, bl.Documents.Urgent = []DocItem{}, []DocItem{}
	b := &pgx.Batch{}
	scanItem := func(dst *[]DossierItem) func(pgx.Row) error {
		return func(r pgx.Row) error {
			var it DossierItem
			var rec, dl time.Time
			var paused *time.Time
			if err := r.Scan(&it.Code, &it.Procedure, &it.ProcedureName, &it.Status, &rec, &dl, &paused, &it.Subject, &it.Applicant); err != nil {
				return err
			}
			it.ReceivedAt, it.DueAt, it.Paused, it.deadline = vnTime(rec), vnTime(dl), paused != nil, dl
			*dst = append(*dst, it)
			return nil
		}
	}
	const itemCols = `d.code, p.code, d.procedure_name, d.status, d.received_at, d.deadline, d.paused_since, d.subject, d.applicant`
	// Running and past the deadline, plus paused after it: two index ranges, merged below.
	b.Queue(`SELECT `+itemCols+` FROM dossiers d JOIN procedures p ON p.id=d.procedure_id
		WHERE d.unit_code=$1 AND d.state=1 AND d.paused_since IS NULL AND d.deadline < $2 ORDER BY d.deadline LIMIT $3`,
		unit, now, listCap).Query(eachRow(scanItem(&bl.Dossiers.Overdue)))
	b.Queue(`SELECT `+itemCols+` FROM dossiers d JOIN procedures p ON p.id=d.procedure_id
		WHERE d.unit_code=$1 AND d.state=1 AND d.paused_since > d.deadline ORDER BY d.deadline LIMIT $2`,
		unit, listCap).Query(eachRow(scanItem(&bl.Dossiers.Overdue)))
	b.Queue(`SELECT `+itemCols+` FROM dossiers d JOIN procedures p ON p.id=d.procedure_id
		WHERE d.unit_code=$1 AND d.state=1 AND d.paused_since IS NULL AND d.deadline >= $2 AND d.deadline <= $3
		ORDER BY d.deadline LIMIT $4`, unit, now, soon, listCap).Query(eachRow(scanItem(&bl.Dossiers.DueSoon)))
	scanDoc := func(dst *[]DocItem) func(pgx.Row) error {
		return func(r pgx.Row) error {
			var it DocItem
			var rec time.Time
			var dl *time.Time
			if err := r.Scan(&it.ID, &it.Number, &it.Book, &it.Code, &it.Urgency, &rec, &dl, &it.Status, &it.Subject, &it.Issuer); err != nil {
				return err
			}
			it.ReceivedAt = vnTime(rec)
			if dl != nil {
				v := vnTime(*dl)
				it.Deadline = &v
			}
			*dst = append(*dst, it)
			return nil
		}
	}
	const docCols = `i.id, i.number, b.name, i.reference, i.urgency, i.received_at, i.deadline, i.status, i.subject, i.issuer`
	b.Queue(`SELECT count(*) FROM incoming_docs WHERE unit_code=$1 AND ended_at IS NULL`, unit).
		QueryRow(func(r pgx.Row) error { return r.Scan(&bl.Documents.Backlog) })
	b.Queue(`SELECT `+docCols+` FROM incoming_docs i LEFT JOIN doc_books b ON b.id=i.book_id
		WHERE i.unit_code=$1 AND i.ended_at IS NULL AND i.deadline < $2 ORDER BY i.deadline LIMIT $3`, unit, now, listCap).
		Query(eachRow(scanDoc(&bl.Documents.Overdue)))
	b.Queue(`SELECT `+docCols+` FROM incoming_docs i LEFT JOIN doc_books b ON b.id=i.book_id
		WHERE i.unit_code=$1 AND i.ended_at IS NULL AND i.urgency <> 'thuong'
		ORDER BY array_position(ARRAY['hoa_toc','thuong_khan','khan'], i.urgency), i.received_at LIMIT $2`, unit, listCap).
		Query(eachRow(scanDoc(&bl.Documents.Urgent)))
	today := startOfDay(now)
	first := today.AddDate(0, 0, -29)
	trend := map[string]*TrendDay{}
	for i := 0; i < 30; i++ {
		d := dateArg(first.AddDate(0, 0, i))
		bl.Trend = append(bl.Trend, TrendDay{Date: d})
	}
	for i := range bl.Trend {
		trend[bl.Trend[i].Date] = &bl.Trend[i]
	}
	b.Queue(`SELECT to_char(day, 'YYYY-MM-DD'), received, finished FROM kpi_daily WHERE unit_code=$1 AND day BETWEEN $2 AND $3`,
		unit, dateArg(first), dateArg(today)).Query(eachRow(func(r pgx.Row) error {
		var day string
		var rec, fin int64
		if err := r.Scan(&day, &rec, &fin); err != nil {
			return err
		}
		if t := trend[day]; t != nil {
			t.Received, t.Finished = rec, fin
		}
		return nil
	}))
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("backlog %s: %w", unit, err)
	}
	sort.SliceStable(bl.Dossiers.Overdue, func(i, j int) bool {
		return bl.Dossiers.Overdue[i].deadline.Before(bl.Dossiers.Overdue[j].deadline)
	})
	if len(bl.Dossiers.Overdue) > listCap {
		bl.Dossiers.Overdue = bl.Dossiers.Overdue[:listCap]
	}
	return bl, nil
}

// publish writes the snapshots of the given communes (code → province)
// and of their provinces to the outbox, inside tx. The caller holds the
// provinces' locks, so the snapshots include every earlier write.
func (s *Service) publish(ctx context.Context, tx pgx.Tx, communes map[string]string) error {
	now := s.now()
	wall := WallPeriod(now)
	codes := keys(communes)
	sort.Strings(codes)
	for _, c := range codes {
		k, err := s.kpisWith(ctx, tx, c, wall, now)
		if err != nil {
			return err
		}
		if err := hub.WriteEvent(ctx, tx, KPITopic(c), k); err != nil {
			return err
		}
		bl, err := s.backlogWith(ctx, tx, c, now)
		if err != nil {
			return err
		}
		if err := hub.WriteEvent(ctx, tx, BacklogTopic(c), bl); err != nil {
			return err
		}
		s.metrics.published.Add(2)
	}
	provs := provincesOf(communes)
	sort.Strings(provs)
	for _, p := range provs {
		k, err := s.kpisWith(ctx, tx, p, wall, now)
		if err != nil {
			return err
		}
		if err := hub.WriteEvent(ctx, tx, ProvinceKPITopic(p), k); err != nil {
			return err
		}
		s.metrics.published.Inc()
	}
	return nil
}

// Republish writes fresh snapshots of communes and their provinces in a
// transaction of its own (the deadline scheduler and the midnight turn).
func (s *Service) Republish(ctx context.Context, communes []string) error {
	set := map[string]string{}
	for _, c := range communes {
		if u, ok := s.units.commune(c); ok {
			set[c] = u.Province
		}
	}
	if len(set) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.lockProvinces(ctx, tx, provincesOf(set)); err != nil {
			return err
		}
		return s.publish(ctx, tx, set)
	})
}
