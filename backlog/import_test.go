package backlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

const csvHeader = "MaHoSo,MaTTHC,MaDVHC,TrangThaiHoSo,NgayTiepNhan,NgayHenTra,KenhThucHien,ChuHoSo\n"

func TestImportCSVPerRowReport(t *testing.T) {
	clock := newClock(vnt(2026, 3, 16, 10, 0))
	s, _ := newTestService(t, clock)
	putProc(t, s, "1.001193", false, false, 3)
	ctx := context.Background()
	upsert(t, s, "EXIST-1", map[string]any{"MaTTHC": "1.001193", "TrangThaiHoSo": 10, "NgayTiepNhan": "20260302080000", "NgayKetThucXuLy": "20260303080000"})
	file := csvHeader +
		"IMP-1,1.001193,03244,2,20260310080000,20260313080000,2,\"Lò Văn A, bản Sáng\"\n" + // row 1: good (quoted comma)
		"IMP-2,9.999999,03244,2,20260310080000,,1,B\n" + // row 2: unknown procedure
		"IMP-3,1.001193,99999,2,20260310080000,,1,C\n" + // row 3: unknown commune
		"IMP-4,1.001193,03244,2,2026-03-10,,1,D\n" + // row 4: wrong time format
		"IMP-5,1.001193,03244,4,20260310080000,20260309080000,1,E\n" + // row 5: due before received
		"IMP-6,1.001193,03244,12,20260310080000,,1,F\n" + // row 6: unknown status
		"EXIST-1,1.001193,03244,4,20260302080000,,1,G\n" + // row 7: 10 → 4 refused
		"IMP-8,1.001193,03244,2,20260311080000\n" + // row 8: too few fields
		"IMP-1,1.001193,03244,4,20260310080000,20260313080000,2,\"Lò Văn A, bản Sáng\"\n" // row 9: good, moves IMP-1 to 4
	rep, err := s.Import(ctx, strings.NewReader(file), ImportOptions{Format: "csv", Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 9 || rep.Created != 1 || rep.Updated != 1 || rep.Rejected != 7 || !rep.Committed {
		t.Fatalf("report %+v", rep)
	}
	want := []struct {
		row         int
		field, code string
	}{{2, "MaTTHC", hub.EUnprocessable}, {3, "MaDVHC", hub.EUnprocessable}, {4, "NgayTiepNhan", hub.EInvalid},
		{5, "NgayHenTra", hub.EUnprocessable}, {6, "TrangThaiHoSo", hub.EInvalid}, {7, "TrangThaiHoSo", hub.EConflict}, {8, "row", hub.EInvalid}}
	for i, w := range want {
		e := rep.Errors[i]
		if e.Row != w.row || e.Field != w.field || e.Error != w.code || e.Line != w.row+1 {
			t.Errorf("error %d = %+v, want row %d line %d field %s code %s", i, e, w.row, w.row+1, w.field, w.code)
		}
	}
	d, err := s.Dossier(ctx, "IMP-1")
	if err != nil || d.Status != 4 || d.Applicant != "Lò Văn A, bản Sáng" {
		t.Fatalf("IMP-1 = %+v, %v", d, err)
	}
	h, _ := s.History(ctx, "IMP-1")
	if len(h) != 2 || h[0].Kind != "created" || h[1].Kind != "status" || h[0].Source != "import" {
		t.Errorf("history of IMP-1: %+v", h)
	}
	assertAggregatesMatchRebuild(t, s)

	// The same file again changes nothing.
	rep, err = s.Import(ctx, strings.NewReader(file), ImportOptions{Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	// Row 1 (status 2) is now refused (4 → 2 is not a move), row 9 is unchanged.
	if rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != 1 {
		t.Errorf("second run %+v", rep)
	}
}

func TestImportAtomic(t *testing.T) {
	s, _ := newTestService(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, s, "1.001193", false, false, 3)
	ctx := context.Background()
	var outbox int
	file := csvHeader + "AT-1,1.001193,03244,2,20260310080000,,1,A\nAT-2,1.001193,03244,2,20260310,,1,B\n"
	rep, err := s.Import(ctx, strings.NewReader(file), ImportOptions{Atomic: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Committed || rep.Rejected != 1 || rep.Created != 0 || rep.Errors[0].Row != 2 || rep.Errors[0].Field != "NgayTiepNhan" {
		t.Fatalf("atomic report %+v", rep)
	}
	var n int
	_ = s.pool.QueryRow(ctx, `SELECT count(*) FROM dossiers`).Scan(&n)
	_ = s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outbox)
	if n != 0 || outbox != 0 {
		t.Errorf("atomic import with a bad row stored %d dossiers and %d events", n, outbox)
	}
	// Without atomic, the good row commits.
	rep, err = s.Import(ctx, strings.NewReader(file), ImportOptions{})
	if err != nil || !rep.Committed || rep.Created != 1 {
		t.Fatalf("non-atomic: %+v %v", rep, err)
	}
}

func TestImportFatalFormatErrors(t *testing.T) {
	s, _ := newTestService(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, s, "1.001193", false, false, 3)
	cases := []struct {
		name, file, field, msg string
	}{
		{"missing column", "MaHoSo,MaTTHC,TrangThaiHoSo,NgayTiepNhan\nX,1.001193,2,20260310080000\n", "MaDVHC", "missing required column MaDVHC"},
		{"unknown column", csvHeader[:len(csvHeader)-1] + ",Foo\n", "Foo", "unknown column"},
		{"broken quoting", csvHeader + "Q-1,1.001193,03244,2,20260310080000,,1,ok\nQ-2,1.001193,03244,2,20260310080000,,1,\"bad \"quote\n", "column", "line 3"},
		{"empty", "", "body", "empty"},
	}
	for _, tc := range cases {
		_, err := s.Import(context.Background(), strings.NewReader(tc.file), ImportOptions{Format: "csv"})
		var he *hub.Error
		if err == nil || !asHubError(err, &he) || he.Code != hub.EInvalid || !strings.HasPrefix(he.Field, tc.field) || !strings.Contains(he.Message, tc.msg) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	var n int
	_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM dossiers`).Scan(&n)
	if n != 0 {
		t.Errorf("a file with a fatal error stored %d dossiers (broken quoting must not half-apply)", n)
	}
}

func asHubError(err error, target **hub.Error) bool {
	e, ok := err.(*hub.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestImportJSONLinesOverHTTP(t *testing.T) {
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, h.s, "1.001193", false, false, 3)
	file := `{"MaHoSo":"J-1","MaTTHC":"1.001193","MaDVHC":"03244","TrangThaiHoSo":2,"NgayTiepNhan":"20260310080000"}

{"MaHoSo":"J-2","MaTTHC":"1.001193","MaDVHC":"03244","TrangThaiHoSo":2,"NgayTiepNhan":
{"MaHoSo":"J-3","MaTTHC":"1.001193","MaDVHC":"03244","TrangThaiHoSo":2,"NgayTiepNhan":"20260310080000","Bogus":1}
`
	code, m := h.do(t, hub.RoleOfficer, "POST", "/api/v1/dossiers/import", []byte(file), map[string]string{"Content-Type": "application/x-ndjson"})
	if code != 200 || m["created"].(float64) != 1 || m["rejected"].(float64) != 2 {
		t.Fatalf("%d %v", code, m)
	}
	errs := m["errors"].([]any)
	if e := errs[0].(map[string]any); e["row"].(float64) != 2 || e["line"].(float64) != 3 || e["field"] != "body" {
		t.Errorf("error 0: %v", e)
	}
	if e := errs[1].(map[string]any); e["row"].(float64) != 3 || e["field"] != "Bogus" {
		t.Errorf("error 1: %v", e)
	}
	// atomic=true with a bad row: 422 and nothing stored.
	code, m = h.do(t, hub.RoleOfficer, "POST", "/api/v1/dossiers/import?atomic=true",
		[]byte(strings.ReplaceAll(file, "J-", "K-")), map[string]string{"Content-Type": "application/x-ndjson"})
	if code != 422 || m["committed"] != false {
		t.Fatalf("atomic: %d %v", code, m)
	}
	if _, err := h.s.Dossier(context.Background(), "K-1"); hub.ErrorCode(err) != hub.ENotFound {
		t.Error("atomic import stored a row")
	}
	// A CSV with broken quoting over HTTP: 400 naming the line.
	bad := csvHeader + "Q-1,1.001193,03244,2,20260310080000,,1,\"open quote\n"
	code, m = h.do(t, hub.RoleOfficer, "POST", "/api/v1/dossiers/import", []byte(bad), map[string]string{"Content-Type": "text/csv"})
	if code != 400 || !strings.Contains(errMessage(m), "line") {
		t.Errorf("broken CSV: %d %v", code, m)
	}
}

func TestImportLargeBodyStreams(t *testing.T) {
	hubtest.SkipShort(t, "imports a large body")
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, h.s, "1.001193", false, false, 3)
	var b bytes.Buffer
	b.WriteString(csvHeader)
	for i := 0; b.Len() < 3<<20; i++ { // over the 1 MiB JSON limit
		fmt.Fprintf(&b, "BIG-%06d,1.001193,03244,2,20260310080000,,1,Người nộp số %d\n", i, i)
	}
	req := httptest.NewRequest("POST", "/api/v1/dossiers/import", bytes.NewReader(b.Bytes()))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+h.tokens[hub.RoleOfficer])
	resp, err := h.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"rejected":0`) {
		t.Fatalf("%d %s", resp.StatusCode, raw[:min(len(raw), 300)])
	}
}

// A CSV row with bytes that are not UTF-8 (a file saved in a legacy
// encoding) is refused naming its column; the other rows are imported.
func TestImportCSVInvalidUTF8(t *testing.T) {
	s, _ := newTestService(t, newClock(vnt(2026, 3, 16, 10, 0)))
	putProc(t, s, "1.001193", false, false, 3)
	ctx := context.Background()
	file := csvHeader +
		"UTF-1,1.001193,03244,2,20260310080000,,1,L\xf2 V\xe3n A\n" +
		"UTF-2,1.001193,03244,2,20260310080000,,1,Lò Văn B\n"
	rep, err := s.Import(ctx, strings.NewReader(file), ImportOptions{Format: "csv", Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 1 || rep.Rejected != 1 || len(rep.Errors) != 1 || rep.Errors[0].Row != 1 || rep.Errors[0].Field != "ChuHoSo" {
		t.Fatalf("report %+v", rep)
	}
	if _, err := s.Dossier(ctx, "UTF-1"); hub.ErrorCode(err) != hub.ENotFound {
		t.Errorf("the row with invalid UTF-8 was stored: %v", err)
	}
}
