package backlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
)

// PortalTimeLayout is the national portal's time format (yyyyMMddHHmmss,
// Vietnam time).
const PortalTimeLayout = "20060102150405"

type fieldKind int

const (
	fString fieldKind = iota
	fTime
	fInt
	fFlag
	fArray
	fIgnored // a portal field accepted and not stored
)

// portalFields are the field names a dossier body or import row may carry:
// the national portal's sync fields (DongBoHoSoMC) plus the hub's own
// MaDVHC, NgayDongBo, KhongHaiLong and DaSoHoaHoSo. docs/api.md maps each
// to its column.
var portalFields = map[string]fieldKind{
	"MaHoSo": fString, "MaTTHC": fString, "TenTTHC": fString, "MaLinhVuc": fString, "TenLinhVuc": fIgnored,
	"SoBienNhan": fString, "ChuHoSo": fString, "LoaiDoiTuong": fInt, "MaDoiTuong": fIgnored,
	"Email": fIgnored, "SoDienThoai": fIgnored, "TrichYeuHoSo": fString,
	"NgayTiepNhan": fTime, "NgayHenTra": fTime, "NgayTra": fTime, "NgayKetThucXuLy": fTime,
	"TrangThaiHoSo": fInt, "HinhThuc": fIgnored, "DonViXuLy": fString, "GhiChu": fString,
	"KenhThucHien": fInt, "DuocThanhToanTrucTuyen": fInt, "HoSoCoThanhPhanSoHoa": fFlag,
	"DuocLayTuKhoDMQG": fFlag, "TaiKhoanDuocXacThucVoiVNeID": fFlag, "MaKetQua": fString,
	"DuongDanTepTinKetQua": fString, "TaiLieuNop": fArray, "DanhSachLePhi": fArray,
	"DanhSachHoSoBoSung": fArray, "DanhSachGiayToKetQua": fArray,
	"MaDVHC": fString, "NgayDongBo": fTime, "KhongHaiLong": fFlag, "DaSoHoaHoSo": fFlag,
}

// requiredColumns must be present as CSV columns (values may be empty
// where the status allows it).
var requiredColumns = []string{"MaHoSo", "MaTTHC", "MaDVHC", "TrangThaiHoSo", "NgayTiepNhan"}

// PortalFieldNames returns the accepted field names, sorted.
func PortalFieldNames() []string {
	names := make([]string, 0, len(portalFields))
	for n := range portalFields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PortalRecord is one dossier as the portal describes it, typed and
// checked for form (not yet against the catalogue or the stored dossier).
type PortalRecord struct {
	Code, ProcedureCode, ProcedureName, FieldCode, ReceiptNo string
	Applicant, Subject, HandlingUnit, Note, Unit             string
	ApplicantType, Status, Channel, PaidOnline               int
	ReceivedAt, DueAt, ReturnedAt, ProcessedAt, SyncedAt     *time.Time
	Digitized, EResult, Reused, PersonalStore, VNeID         bool
	Negative                                                 bool
	FeeTotal                                                 int64
	Pauses                                                   []Pause
	HasPauseList                                             bool // DanhSachHoSoBoSung was sent: it replaces the pauses
}

var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)

// ValidDossierCode reports whether s can be a dossier code (MaHoSo).
func ValidDossierCode(s string) bool { return codePattern.MatchString(s) }

var unitPattern = regexp.MustCompile(`^[0-9]{5}$`)

// jsonFields turns one JSON object into raw field values: strings as they
// are, numbers as their literal, booleans as 1/0, null as empty, arrays as
// their JSON text. Unknown fields and wrong shapes are errors naming the field.
func jsonFields(b []byte) (map[string]string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, hub.FieldError("body", "a JSON object is required")
	}
	if err := hub.CheckJSONText(b); err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, hub.FieldError("body", "malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, hub.FieldError("body", "unexpected data after the JSON object")
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		kind, ok := portalFields[k]
		if !ok {
			if k == "" {
				return nil, hub.FieldError("body", "a field has an empty name")
			}
			return nil, hub.FieldError(clip(k), "unknown field (accepted: the portal's sync fields and MaDVHC; see docs/api.md)")
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 {
			continue
		}
		switch v[0] {
		case 'n':
			out[k] = ""
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, hub.FieldError(k, "malformed string")
			}
			if kind == fArray {
				return nil, hub.FieldError(k, "must be an array")
			}
			out[k] = s
		case 't', 'f':
			if kind != fFlag {
				return nil, hub.FieldError(k, "must be %s, not a boolean", kindName(kind))
			}
			out[k] = map[byte]string{'t': "1", 'f': "0"}[v[0]]
		case '[':
			if kind != fArray && kind != fIgnored {
				return nil, hub.FieldError(k, "must be %s, not an array", kindName(kind))
			}
			out[k] = string(v)
		case '{':
			if kind != fIgnored {
				return nil, hub.FieldError(k, "must be %s, not an object", kindName(kind))
			}
		default: // a number
			if kind == fString || kind == fTime || kind == fArray {
				return nil, hub.FieldError(k, "must be %s, not a number", kindName(kind))
			}
			out[k] = string(v)
		}
	}
	return out, nil
}

func kindName(k fieldKind) string {
	switch k {
	case fTime:
		return "a yyyyMMddHHmmss string"
	case fInt:
		return "an integer"
	case fFlag:
		return "0 or 1"
	case fArray:
		return "an array"
	}
	return "a string"
}

// parseRecord checks and types one dossier's raw fields.
func parseRecord(f map[string]string) (*PortalRecord, error) {
	for k := range f {
		if _, ok := portalFields[k]; !ok {
			return nil, hub.FieldError("body", "unknown field %q", clip(k))
		}
	}
	r := &PortalRecord{}
	var err error
	str := func(name string, max int) string {
		if err != nil {
			return ""
		}
		s := strings.TrimSpace(f[name])
		if len(s) > max {
			err = hub.FieldError(name, "longer than %d bytes", max)
		}
		return s
	}
	r.Code = str("MaHoSo", 80)
	r.ProcedureCode = str("MaTTHC", 64)
	r.ProcedureName = str("TenTTHC", 1000)
	r.FieldCode = str("MaLinhVuc", 64)
	r.ReceiptNo = str("SoBienNhan", 80)
	r.Applicant = str("ChuHoSo", 300)
	r.Subject = str("TrichYeuHoSo", 2000)
	r.HandlingUnit = str("DonViXuLy", 300)
	r.Note = str("GhiChu", 2000)
	r.Unit = str("MaDVHC", 5)
	if err != nil {
		return nil, err
	}
	if r.Code != "" && !ValidDossierCode(r.Code) {
		return nil, hub.FieldError("MaHoSo", "must be 1–80 letters, digits, '.', '_' or '-'")
	}
	if r.ProcedureCode == "" {
		return nil, hub.FieldError("MaTTHC", "is required")
	}
	if r.Unit == "" {
		return nil, hub.FieldError("MaDVHC", "is required: the 5-digit code of the commune")
	}
	if !unitPattern.MatchString(r.Unit) {
		return nil, hub.FieldError("MaDVHC", "must be a 5-digit commune code, not %q", r.Unit)
	}
	if r.Status, err = parseInt(f, "TrangThaiHoSo", 1, 10, true); err != nil {
		return nil, err
	}
	if r.Channel, err = parseInt(f, "KenhThucHien", 1, 3, false); err != nil {
		return nil, err
	}
	if r.Channel == 0 {
		r.Channel = 1 // the portal counts a missing channel as in person
	}
	if r.PaidOnline, err = parseInt(f, "DuocThanhToanTrucTuyen", 0, 2, false); err != nil {
		return nil, err
	}
	if r.ApplicantType, err = parseInt(f, "LoaiDoiTuong", 0, 9, false); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"NgayTiepNhan", &r.ReceivedAt}, {"NgayHenTra", &r.DueAt}, {"NgayTra", &r.ReturnedAt},
		{"NgayKetThucXuLy", &r.ProcessedAt}, {"NgayDongBo", &r.SyncedAt}} {
		if *t.dst, err = parsePortalTime(t.name, f[t.name]); err != nil {
			return nil, err
		}
	}
	for _, fl := range []struct {
		name string
		dst  *bool
	}{{"HoSoCoThanhPhanSoHoa", &r.Reused}, {"DuocLayTuKhoDMQG", &r.PersonalStore},
		{"TaiKhoanDuocXacThucVoiVNeID", &r.VNeID}, {"KhongHaiLong", &r.Negative}, {"DaSoHoaHoSo", &r.Digitized}} {
		if *fl.dst, err = parseFlag(fl.name, f[fl.name]); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(f["DuongDanTepTinKetQua"]) != "" {
		r.EResult = true
	}
	if err := r.parseArrays(f); err != nil {
		return nil, err
	}
	return r, nil
}

func parseInt(f map[string]string, name string, lo, hi int, required bool) (int, error) {
	s := strings.TrimSpace(f[name])
	if s == "" {
		if required {
			return 0, hub.FieldError(name, "is required")
		}
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, hub.FieldError(name, "must be an integer, not %q", clip(s))
	}
	if n < lo || n > hi {
		if name == "TrangThaiHoSo" {
			return 0, hub.FieldError(name, "unknown status %d (the portal's codes are 1–10)", n)
		}
		return 0, hub.FieldError(name, "must be between %d and %d, not %d", lo, hi, n)
	}
	return n, nil
}

func parseFlag(name, s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, hub.FieldError(name, "must be 0 or 1, not %q", clip(s))
}

// parsePortalTime parses yyyyMMddHHmmss in Vietnam time; empty is nil.
func parsePortalTime(name, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) != 14 || strings.Trim(s, "0123456789") != "" {
		return nil, hub.FieldError(name, "must be yyyyMMddHHmmss (Vietnam time), not %q", clip(s))
	}
	t, err := time.ParseInLocation(PortalTimeLayout, s, VN)
	if err != nil {
		return nil, hub.FieldError(name, "not a valid time %q: %v", s, err)
	}
	if t.Year() < 2000 || t.Year() > 2100 {
		return nil, hub.FieldError(name, "year %d out of range 2000–2100", t.Year())
	}
	return &t, nil
}

// FormatPortalTime formats t as yyyyMMddHHmmss in Vietnam time.
func FormatPortalTime(t time.Time) string { return t.In(VN).Format(PortalTimeLayout) }

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Array items are read leniently (unknown keys inside items are ignored:
// the portal's item shapes vary between versions); values may be strings
// or numbers.
type (
	flexString string
	tepNop     struct {
		TepDinhKemId      flexString
		DuongDanTaiTepTin flexString
		DuocSoHoa         flexString
		DuocLayTuKhoDMQG  flexString
	}
	lePhi struct {
		Gia flexString
	}
	boSung struct {
		NgayBoSung         flexString
		NgayTiepNhanBoSung flexString
		NgayHenTraTruoc    flexString
		NgayHenTraMoi      flexString
	}
	giayToKetQua struct {
		DuongDanTepTinKetQua flexString
	}
)

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == 't':
		*s = "1"
	case b[0] == 'f':
		*s = "0"
	case b[0] == '[' || b[0] == '{':
		return fmt.Errorf("must be a string or a number")
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*s = flexString(n)
	}
	return nil
}

func decodeArray[T any](f map[string]string, name string) ([]T, bool, error) {
	s := strings.TrimSpace(f[name])
	if s == "" {
		_, present := f[name]
		return nil, present, nil
	}
	var items []T
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return nil, true, hub.FieldError(name, "must be a JSON array of objects: %v", err)
	}
	return items, true, nil
}

func (r *PortalRecord) parseArrays(f map[string]string) error {
	files, _, err := decodeArray[tepNop](f, "TaiLieuNop")
	if err != nil {
		return err
	}
	for _, it := range files {
		if it.DuongDanTaiTepTin != "" || it.TepDinhKemId != "" {
			r.Digitized = true
		}
		if it.DuocSoHoa == "1" {
			r.Reused = true
		}
		if it.DuocLayTuKhoDMQG == "1" {
			r.PersonalStore = true
		}
	}
	fees, _, err := decodeArray[lePhi](f, "DanhSachLePhi")
	if err != nil {
		return err
	}
	for i, it := range fees {
		if it.Gia == "" {
			continue
		}
		v, err := strconv.ParseFloat(string(it.Gia), 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > 1e13 {
			return hub.FieldError(fmt.Sprintf("DanhSachLePhi[%d].Gia", i), "must be a non-negative amount, not %q", clip(string(it.Gia)))
		}
		r.FeeTotal += int64(math.Round(v))
	}
	results, _, err := decodeArray[giayToKetQua](f, "DanhSachGiayToKetQua")
	if err != nil {
		return err
	}
	for _, it := range results {
		if it.DuongDanTepTinKetQua != "" {
			r.EResult = true
		}
	}
	sups, present, err := decodeArray[boSung](f, "DanhSachHoSoBoSung")
	if err != nil {
		return err
	}
	r.HasPauseList = present
	for i, it := range sups {
		field := func(n string) string { return fmt.Sprintf("DanhSachHoSoBoSung[%d].%s", i, n) }
		from, err := parsePortalTime(field("NgayBoSung"), string(it.NgayBoSung))
		if err != nil {
			return err
		}
		if from == nil {
			return hub.FieldError(field("NgayBoSung"), "is required")
		}
		p := Pause{Kind: "supplement", From: *from, Source: "portal"}
		if p.To, err = parsePortalTime(field("NgayTiepNhanBoSung"), string(it.NgayTiepNhanBoSung)); err != nil {
			return err
		}
		if p.To != nil && p.To.Before(p.From) {
			return hub.FieldError(field("NgayTiepNhanBoSung"), "is before NgayBoSung")
		}
		if p.DueBefore, err = parsePortalTime(field("NgayHenTraTruoc"), string(it.NgayHenTraTruoc)); err != nil {
			return err
		}
		if p.DueAfter, err = parsePortalTime(field("NgayHenTraMoi"), string(it.NgayHenTraMoi)); err != nil {
			return err
		}
		r.Pauses = append(r.Pauses, p)
	}
	sort.SliceStable(r.Pauses, func(i, j int) bool { return r.Pauses[i].From.Before(r.Pauses[j].From) })
	return nil
}
