package backlog

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/communehub/communehub/hub"
)

var fuzzSeeds = []string{
	csvHeader + "F-1,1.001193,03244,2,20260310080000,20260313080000,2,\"Lò Văn A, bản Sáng\"\n",
	csvHeader + "F-2,1.001193,03244,2,20260310080000,,1,\"broken \"quote\n",
	csvHeader + "F-3,1.001193,03244\n",
	"\xEF\xBB\xBF" + csvHeader + "F-4,1.001193,03244,12,2026-03-10,,x,\n",
	"MaHoSo,MaTTHC,MaDVHC,TrangThaiHoSo,NgayTiepNhan,DanhSachLePhi\nF-5,1.001193,03244,2,20260310080000,\"[{\"\"Gia\"\":1000}]\"\n",
	`{"MaHoSo":"J-1","MaTTHC":"1.001193","MaDVHC":"03244","TrangThaiHoSo":2,"NgayTiepNhan":"20260310080000","DanhSachHoSoBoSung":[{"NgayBoSung":"20260311080000"}]}` + "\n\n{bad\n",
	`[{"MaHoSo":"A-1","MaTTHC":"1.001193","MaDVHC":"03244","TrangThaiHoSo":"4","TaiLieuNop":[{"TepDinhKemId":1}]}]`,
	`{"TrangThaiHoSo":true,"NgayTiepNhan":20260310080000,"DanhSachLePhi":"x","ChuHoSo":{"a":1}}`,
	"",
	"\n\n\n",
}

// FuzzImportParse feeds arbitrary files to the CSV/JSON-lines reader and
// the record parser: they must never panic, every error must be a coded
// *hub.Error (naming a field), and every accepted record must be in range.
func FuzzImportParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "csv")
		f.Add([]byte(s), "jsonl")
	}
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		if format != "" && format != "csv" && format != "jsonl" {
			return
		}
		rr, err := newRowReader(bytes.NewReader(data), format)
		if err != nil {
			checkCoded(t, err)
			return
		}
		for i := 0; i < 10000; i++ {
			raw, err := rr.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				checkCoded(t, err)
				return
			}
			if raw.Row != i+1 {
				t.Fatalf("row %d numbered %d", i+1, raw.Row)
			}
			fields, err := raw.fields()
			if err != nil {
				checkCoded(t, err)
				continue
			}
			r, err := parseRecord(fields)
			if err != nil {
				checkCoded(t, err)
				continue
			}
			checkRecord(t, r)
		}
	})
}

// FuzzPortalJSON fuzzes one PUT body.
func FuzzPortalJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"MaTTHC":"1","MaDVHC":"03244","TrangThaiHoSo":1e400}`))
	f.Add([]byte(`{"MaTTHC":"1","MaDVHC":"03244","TrangThaiHoSo":2,"DanhSachLePhi":[{"Gia":1e20}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := jsonFields(data)
		if err != nil {
			checkCoded(t, err)
			return
		}
		r, err := parseRecord(raw)
		if err != nil {
			checkCoded(t, err)
			return
		}
		checkRecord(t, r)
	})
}

func checkCoded(t *testing.T, err error) {
	t.Helper()
	var he *hub.Error
	if !errors.As(err, &he) {
		t.Fatalf("uncoded error %T: %v", err, err)
	}
	if he.Code != hub.EInvalid && he.Code != hub.EUnprocessable {
		t.Fatalf("error code %s for input: %v", he.Code, err)
	}
	if he.Field == "" {
		t.Fatalf("error names no field: %v", err)
	}
}

func checkRecord(t *testing.T, r *PortalRecord) {
	t.Helper()
	if r.Status < 1 || r.Status > 10 || r.Channel < 1 || r.Channel > 3 || r.PaidOnline < 0 || r.PaidOnline > 2 || r.FeeTotal < 0 {
		t.Fatalf("out of range: %+v", r)
	}
	if r.Code != "" && !ValidDossierCode(r.Code) {
		t.Fatalf("invalid code accepted: %q", r.Code)
	}
	if !unitPattern.MatchString(r.Unit) || r.ProcedureCode == "" {
		t.Fatalf("unit or procedure accepted: %+v", r)
	}
	for _, p := range r.Pauses {
		if p.To != nil && p.To.Before(p.From) {
			t.Fatalf("pause ends before it starts: %+v", p)
		}
	}
}
