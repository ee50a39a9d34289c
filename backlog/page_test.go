package backlog

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// The officer page in a real Chromium: lists with filters, a dossier's
// history, documents, the import with its per-row report, Vietnamese by
// default and English on demand.
func TestOfficerPage(t *testing.T) {
	chrome := hubtest.Chromium(t)
	clock := newClock(vnt(2026, 3, 16, 10, 0))
	h := newTestHub(t, clock)
	mixedFixture(t, h.s)
	ctx := context.Background()
	if _, err := h.s.RegisterIncoming(ctx, IncomingInput{Unit: "03244", Subject: "V/v rà soát hộ nghèo", Issuer: "UBND tỉnh Điện Biên",
		Urgency: "hoa_toc", Deadline: "2026-03-20"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.auth.CreateUser(ctx, "canbo", hub.RoleOfficer, "motcua-2026"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.app.Listener(ln) }()
	t.Cleanup(func() { _ = h.app.Shutdown() })
	base := "http://" + ln.Addr().String()
	csvFile := filepath.Join(t.TempDir(), "ho-so.csv")
	if err := os.WriteFile(csvFile, []byte(csvHeader+
		"WEB-1,1.000001,03244,2,20260316080000,,2,Người nộp trên web\n"+
		"WEB-2,1.000001,03244,2,16/03/2026,,2,Ngày sai\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	page := hubtest.NewPage(t, chrome, 90*time.Second)
	bctx, do, text := page.Ctx, page.Do, page.Text
	do(chromedp.Navigate(base+"/backlog?unit=03244"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "canbo"),
		chromedp.SendKeys(`#password`, "motcua-2026"),
		chromedp.Click(`#submit`),
		chromedp.WaitVisible(`tr[data-code="A"]`),
		chromedp.WaitVisible(`#summary .kpi`))
	rows := text(`#dossierRows`)
	for _, want := range []string{"Quá hạn", "Sắp đến hạn", "Đúng hạn", "Trễ hạn", "4 · Đang xử lý"} {
		if !strings.Contains(rows, want) {
			t.Errorf("dossier list lacks %q:\n%s", want, rows)
		}
	}
	if s := text(`#summary`); !strings.Contains(s, "70,0%") { // the walls' formatter: vi-VN
		t.Errorf("summary lacks the 766 on-time rate: %q", s)
	}
	// Filter: overdue only → A and I.
	do(chromedp.SetValue(`select[name="class"]`, "overdue"), chromedp.Click(`#dossierFilters button[type="submit"]`),
		chromedp.WaitNotPresent(`tr[data-code="F"]`))
	if rows := text(`#dossierRows`); !strings.Contains(rows, "I") || strings.Contains(rows, "G ") {
		t.Errorf("overdue filter: %q", rows)
	}
	// A dossier's history.
	do(chromedp.Click(`tr[data-code="I"]`), chromedp.WaitVisible(`#historyList li`))
	if d := text(`#dossierDetail`); !strings.Contains(d, "Tạo hồ sơ") || !strings.Contains(d, "Hồ sơ I") {
		t.Errorf("detail: %q", d)
	}
	// Incoming documents.
	do(chromedp.Click(`button[data-tab="incoming"]`), chromedp.WaitVisible(`#incomingRows tr`))
	if s := text(`#incomingRows`); !strings.Contains(s, "Hỏa tốc") || !strings.Contains(s, "rà soát hộ nghèo") {
		t.Errorf("incoming: %q", s)
	}
	// Import with a per-row report.
	do(chromedp.Click(`button[data-tab="import"]`), chromedp.WaitVisible(`#importFile`),
		chromedp.SetUploadFiles(`#importFile`, []string{csvFile}), chromedp.Click(`#importButton`),
		chromedp.WaitVisible(`#importRows tr`))
	if s := text(`#importStatus`); !strings.Contains(s, "2 dòng: 1 mới") || !strings.Contains(s, "1 lỗi") {
		t.Errorf("import status: %q", s)
	}
	if s := text(`#importRows`); !strings.Contains(s, "WEB-2") || !strings.Contains(s, "NgayTiepNhan") {
		t.Errorf("import report: %q", s)
	}
	if _, err := h.s.Dossier(ctx, "WEB-1"); err != nil {
		t.Errorf("the good row was not imported: %v", err)
	}
	// English.
	do(chromedp.Click(`#lang`), chromedp.Click(`button[data-tab="dossiers"]`),
		chromedp.SetValue(`select[name="class"]`, ""), chromedp.Click(`#dossierFilters button[type="submit"]`),
		chromedp.WaitVisible(`tr[data-code="WEB-1"]`))
	if s := text(`body`); !strings.Contains(s, "Dossiers and documents") || !strings.Contains(s, "Overdue") {
		t.Errorf("English page: %q", s[:min(len(s), 400)])
	}
	if dir := os.Getenv("COMMUNEHUB_SCREENSHOTS"); dir != "" {
		if shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(dir+"/backlog-page.png", shot, 0o644)
		}
	}
}
