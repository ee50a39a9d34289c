package backlog

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// demoProcedures is the demo catalogue of common commune procedures. The
// names are real commune-level procedures; the codes follow the national
// format but are demo data — load the real catalogue with
// PUT /api/v1/procedures/{code} in production.
var demoProcedures = []struct {
	code, name, level string
	fee, paper        bool
	days              int
}{
	{"1.001193", "Đăng ký khai sinh", "full", false, true, 1},
	{"1.000894", "Đăng ký kết hôn", "partial", false, true, 5},
	{"1.000656", "Đăng ký khai tử", "full", false, true, 1},
	{"1.004746", "Cấp bản sao trích lục hộ tịch", "full", true, true, 1},
	{"1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", "full", true, true, 3},
	{"1.001022", "Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch", "partial", true, true, 3},
	{"2.000908", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", "partial", true, false, 1},
	{"2.000815", "Chứng thực chữ ký trong các giấy tờ, văn bản", "none", true, false, 1},
	{"2.000884", "Chứng thực hợp đồng, giao dịch liên quan đến tài sản là động sản", "none", true, false, 2},
	{"1.001776", "Thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hàng tháng", "partial", false, true, 15},
	{"1.003005", "Xác nhận hộ gia đình làm nông nghiệp có mức sống trung bình", "partial", false, false, 5},
	{"1.010833", "Đăng ký biến động quyền sử dụng đất, tài sản gắn liền với đất", "partial", true, true, 10},
}

// DemoCommunes returns the demo communes: the two named ones first, then
// a few more of the same province.
func (s *Service) DemoCommunes(province string, named []string, extra int) []string {
	out := append([]string{}, named...)
	for _, c := range s.units.communesOf(province) {
		if extra == 0 {
			break
		}
		if !strings.Contains(strings.Join(out, ","), c.Code) {
			out = append(out, c.Code)
			extra--
		}
	}
	return out
}

// SeedDemo loads the demo catalogue and, for each commune without
// dossiers, a year to date of realistic dossiers and documents (older
// ones closed, recent ones open, some late, some due soon). It is
// idempotent.
func (s *Service) SeedDemo(ctx context.Context, communes []string) error {
	for _, p := range demoProcedures {
		fee, paper := p.fee, p.paper
		if _, _, _, err := s.PutProcedure(ctx, p.code, ProcedureInput{Name: p.name, OnlineLevel: p.level, HasFee: &fee,
			RequiresPaperResult: &paper, Deadline: &Deadline{Value: p.days, Unit: "working_day"}}); err != nil {
			return fmt.Errorf("demo procedure %s: %w", p.code, err)
		}
	}
	now := s.now()
	for i, c := range communes {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dossiers WHERE unit_code=$1`, c).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		rng := rand.New(rand.NewPCG(uint64(i+1), 766))
		var b strings.Builder
		for _, row := range s.demoDossiers(c, now, rng) {
			line, _ := json.Marshal(row)
			b.Write(line)
			b.WriteByte('\n')
		}
		rep, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{Actor: "demo", Source: "demo"})
		if err != nil {
			return fmt.Errorf("demo dossiers of %s: %w", c, err)
		}
		if rep.Rejected > 0 {
			return fmt.Errorf("demo dossiers of %s: %d rows rejected, first: %+v", c, rep.Rejected, rep.Errors[0])
		}
		if err := s.seedDemoDocs(ctx, c, now, rng); err != nil {
			return fmt.Errorf("demo documents of %s: %w", c, err)
		}
	}
	return nil
}

var demoNames = []string{"Lò Văn Pánh", "Quàng Thị Xuân", "Giàng A Páo", "Mùa Thị Dua", "Lầu A Chứ", "Vàng Thị Mai",
	"Sùng A Lử", "Lò Thị Hương", "Cà Văn Thanh", "Tòng Thị Pọm", "Hạng A Sình", "Lý Thị Sua"}

// demoDossiers invents a commune's dossiers from 1 January to now.
func (s *Service) demoDossiers(unit string, now time.Time, rng *rand.Rand) []map[string]any {
	var rows []map[string]any
	start := time.Date(now.In(VN).Year(), 1, 2, 0, 0, 0, 0, VN)
	if now.Sub(start) < 45*24*time.Hour {
		start = startOfDay(now).AddDate(0, 0, -60) // early in the year: show some history anyway
	}
	seq := 0
	for day := start; day.Before(now); day = day.AddDate(0, 0, 1) {
		if !s.cal.IsWorkingDay(day) {
			continue
		}
		for k := 0; k < 1+rng.IntN(4); k++ {
			rec := day.Add(time.Duration(7*60+30+rng.IntN(9*60)) * time.Minute)
			if rec.After(now) {
				break
			}
			seq++
			p := demoProcedures[rng.IntN(len(demoProcedures))]
			due := s.cal.DueAt(rec, Deadline{p.days, "working_day"})
			online := rng.IntN(100) < 62
			row := map[string]any{
				"MaHoSo": fmt.Sprintf("000.00.%s.H17-%s-%04d", unit[2:], rec.Format("060102"), seq), "MaTTHC": p.code, "TenTTHC": p.name,
				"MaDVHC": unit, "NgayTiepNhan": FormatPortalTime(rec), "NgayHenTra": FormatPortalTime(due),
				"ChuHoSo": demoNames[rng.IntN(len(demoNames))], "TrichYeuHoSo": p.name, "KenhThucHien": 1,
				"NgayDongBo": FormatPortalTime(rec.Add(5 * time.Minute)),
			}
			if online {
				row["KenhThucHien"] = 2
			}
			if rng.IntN(100) < 85 {
				row["DaSoHoaHoSo"] = 1
			}
			if p.fee {
				row["DanhSachLePhi"] = []map[string]any{{"TenPhiLePhi": "Lệ phí", "Gia": []int{8000, 10000, 20000, 50000}[rng.IntN(4)]}}
				if online && rng.IntN(100) < 60 {
					row["DuocThanhToanTrucTuyen"] = 1 + rng.IntN(2)
				}
			}
			// How long it took: mostly early, some on the day, a few late.
			var took time.Duration
			switch r := rng.IntN(100); {
			case r < 80:
				took = time.Duration(float64(due.Sub(rec)) * (0.2 + 0.6*rng.Float64()))
			case r < 95:
				took = due.Sub(rec) - time.Duration(rng.IntN(120))*time.Minute
			default:
				took = due.Sub(rec) + time.Duration(1+rng.IntN(3))*24*time.Hour
			}
			end := rec.Add(max(took, 30*time.Minute))
			switch {
			case end.Before(now) && rng.IntN(1000) < 995:
				row["TrangThaiHoSo"] = 10
				row["NgayKetThucXuLy"] = FormatPortalTime(end)
				ret := end.Add(time.Duration(1+rng.IntN(20)) * time.Hour)
				if ret.After(now) {
					ret = now
				}
				row["NgayTra"] = FormatPortalTime(ret)
				if p.paper && rng.IntN(100) < 90 {
					row["DuongDanTepTinKetQua"] = "demo://ket-qua/" + fmt.Sprint(seq)
				}
				if rng.IntN(100) < 2 {
					row["KhongHaiLong"] = 1
				}
			case rng.IntN(100) < 8:
				row["TrangThaiHoSo"] = 5
				row["DanhSachHoSoBoSung"] = []map[string]any{{"NgayBoSung": FormatPortalTime(rec.Add(2 * time.Hour))}}
			default:
				row["TrangThaiHoSo"] = 4
			}
			rows = append(rows, row)
		}
	}
	return rows
}

var demoIssuers = []string{"UBND tỉnh Điện Biên", "Sở Nội vụ tỉnh Điện Biên", "Sở Tài chính tỉnh Điện Biên",
	"Công an tỉnh Điện Biên", "Văn phòng UBND tỉnh", "Sở Y tế tỉnh Điện Biên"}
var demoSubjects = []string{"V/v triển khai Đề án 06 trên địa bàn xã", "V/v báo cáo tình hình giải quyết TTHC quý",
	"V/v phòng chống thiên tai mùa mưa lũ", "V/v rà soát hộ nghèo, hộ cận nghèo", "V/v tổ chức tiếp công dân định kỳ",
	"V/v tăng cường số hóa hồ sơ, kết quả giải quyết TTHC", "V/v chuẩn bị kỳ họp HĐND xã", "V/v tiêm chủng mở rộng"}

// seedDemoDocs registers a year to date of documents in one transaction.
func (s *Service) seedDemoDocs(ctx context.Context, unit string, now time.Time, rng *rand.Rand) error {
	u, _ := s.units.commune(unit)
	start := time.Date(now.In(VN).Year(), 1, 2, 0, 0, 0, 0, VN)
	if now.Sub(start) < 45*24*time.Hour {
		start = startOfDay(now).AddDate(0, 0, -60)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.lockProvinces(ctx, tx, []string{u.Province}); err != nil {
			return err
		}
		delta := newAggDelta()
		for day := start; day.Before(now); day = day.AddDate(0, 0, 1) {
			if !s.cal.IsWorkingDay(day) {
				continue
			}
			for k := 0; k < rng.IntN(3); k++ {
				rec := day.Add(time.Duration(7*60+30+rng.IntN(9*60)) * time.Minute)
				if rec.After(now) {
					break
				}
				d := &IncomingDoc{Unit: unit, Province: u.Province, ReceivedAt: rec, Urgency: "thuong", Secrecy: "thuong",
					Medium: "electronic", Issuer: demoIssuers[rng.IntN(len(demoIssuers))], Subject: demoSubjects[rng.IntN(len(demoSubjects))],
					DocType: "Công văn", Reference: fmt.Sprintf("%d/UBND-VP", 100+rng.IntN(900))}
				if rng.IntN(100) < 6 {
					d.Medium = "paper"
				}
				if r := rng.IntN(100); r < 10 {
					d.Urgency = []string{"khan", "thuong_khan", "hoa_toc"}[rng.IntN(3)]
					ud := s.cal.EndOfWorkingDay(rec)
					d.UrgentDeadline = &ud
				}
				if err := s.registerLocked(ctx, tx, d, "", nil, rec); err != nil {
					return err
				}
				dl := s.cal.AddWorkingDays(rec, 3+rng.IntN(8))
				d.Deadline = &dl
				pres := rec.Add(time.Duration(30+rng.IntN(180)) * time.Minute)
				d.PresentedAt = &pres
				d.Status = DocInProgress
				done := rec.Add(time.Duration(float64(dl.Sub(rec)) * (0.3 + 0.9*rng.Float64())))
				if done.Before(now) && rng.IntN(100) < 98 {
					d.Status, d.CompletedAt, d.EndedAt = DocDone, &done, &done
				}
				if err := tx.QueryRow(ctx, `INSERT INTO incoming_docs (unit_code, province_code, book_id, number, received_at, registered_at,
					reference, doc_type, issuer, subject, urgency, secrecy, medium, status, deadline, urgent_deadline, presented_at,
					completed_at, ended_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) RETURNING id`,
					d.Unit, d.Province, d.bookID, d.Number, d.ReceivedAt, d.RegisteredAt, d.Reference, d.DocType, d.Issuer, d.Subject,
					d.Urgency, d.Secrecy, d.Medium, d.Status, d.Deadline, d.UrgentDeadline, d.PresentedAt, d.CompletedAt, d.EndedAt).Scan(&d.ID); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO doc_assignments (doc_id, assignee, role, due_at, assigned_at, assigned_by)
					VALUES ($1, 'Văn phòng HĐND và UBND xã', 'chu_tri', $2, $3, 'demo')`, d.ID, d.Deadline, pres); err != nil {
					return err
				}
				delta.addIncoming(d, 1)
			}
			if rng.IntN(100) < 60 {
				issued := day.Add(time.Duration(8*60+rng.IntN(8*60)) * time.Minute)
				if issued.After(now) {
					continue
				}
				o := &OutgoingDoc{Unit: unit, Province: u.Province, IssuedAt: issued, Urgency: "thuong", Secrecy: "thuong", Medium: "electronic",
					DocType: "Công văn", Subject: "V/v báo cáo " + strings.ToLower(demoSubjects[rng.IntN(len(demoSubjects))][4:]),
					Signer: "Chủ tịch UBND xã", Recipients: "UBND tỉnh Điện Biên", SignedPersonal: rng.IntN(100) < 96, SignedOrg: rng.IntN(100) < 93}
				o.Book, o.Year = defaultBook("out", "thuong", ""), issued.In(VN).Year()
				bookID, n, err := takeNumber(ctx, tx, unit, "out", o.Book, o.Year, false, nil, "number")
				if err != nil {
					return err
				}
				o.Number, o.Reference = n, fmt.Sprintf("%d/UBND-VP", n)
				if _, err := tx.Exec(ctx, `INSERT INTO outgoing_docs (unit_code, province_code, book_id, number, reference, issued_at, doc_type,
					subject, signer, recipients, urgency, secrecy, medium, signed_personal, signed_org, created_by)
					VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,'demo')`, o.Unit, o.Province, bookID, o.Number, o.Reference,
					o.IssuedAt, o.DocType, o.Subject, o.Signer, o.Recipients, o.Urgency, o.Secrecy, o.Medium, o.SignedPersonal, o.SignedOrg); err != nil {
					return err
				}
				delta.addOutgoing(o, 1)
			}
		}
		if err := delta.apply(ctx, tx); err != nil {
			return err
		}
		return s.publish(ctx, tx, map[string]string{unit: u.Province})
	})
}

// PortalBody renders a stored dossier as a portal body (the inverse of
// parsing): pushing it back changes nothing.
func PortalBody(d *Dossier) map[string]any {
	tm := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return FormatPortalTime(*t)
	}
	flag := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	m := map[string]any{
		"MaHoSo": d.Code, "MaTTHC": d.ProcedureCode, "TenTTHC": d.ProcedureName, "MaDVHC": cmp.Or(d.SourceUnit, d.Unit),
		"TrangThaiHoSo": d.Status, "KenhThucHien": d.Channel, "NgayTiepNhan": tm(d.ReceivedAt),
		"NgayKetThucXuLy": tm(d.ProcessedAt), "NgayTra": tm(d.ReturnedAt), "NgayDongBo": tm(d.SyncedAt),
		"DuocThanhToanTrucTuyen": d.PaidOnline, "DaSoHoaHoSo": flag(d.Digitized), "HoSoCoThanhPhanSoHoa": flag(d.Reused),
		"DuocLayTuKhoDMQG": flag(d.PersonalStore), "TaiKhoanDuocXacThucVoiVNeID": flag(d.VNeID), "KhongHaiLong": flag(d.Negative),
		"MaLinhVuc": d.FieldCode, "SoBienNhan": d.ReceiptNo, "ChuHoSo": d.Applicant, "LoaiDoiTuong": d.ApplicantType,
		"TrichYeuHoSo": d.Subject, "DonViXuLy": d.HandlingUnit, "GhiChu": d.Note,
	}
	if !d.DueComputed {
		m["NgayHenTra"] = tm(d.DueAt)
	}
	if d.EResult {
		m["DuongDanTepTinKetQua"] = "result://" + d.Code
	}
	if d.FeeTotal > 0 {
		m["DanhSachLePhi"] = []map[string]any{{"Gia": d.FeeTotal}}
	}
	var list []map[string]any
	portal := false
	for _, p := range d.Pauses {
		if p.Source == "portal" {
			portal = true
		}
		list = append(list, map[string]any{"NgayBoSung": FormatPortalTime(p.From), "NgayTiepNhanBoSung": tm(p.To),
			"NgayHenTraTruoc": tm(p.DueBefore), "NgayHenTraMoi": tm(p.DueAfter)})
	}
	if portal {
		m["DanhSachHoSoBoSung"] = list
	}
	return m
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
