package meetings_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"

	"github.com/chromedp/chromedp"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/meetingstest"
)

// TestBrowserOfficerSchedulesAMeeting: an officer creates a meeting on the
// scheduling page, invites the chair and a guest, issues the guest a new
// link, adds an agenda item and uploads its document; a wrong file type is
// refused on the page. The start is typed as dd/mm/yyyy and a 24-hour time,
// read as Vietnam time; an impossible date is refused on the page.
func TestBrowserOfficerSchedulesAMeeting(t *testing.T) {
	chromium := hubtest.Chromium(t)
	f := newFixture(t)
	base := f.Serve()
	dir := t.TempDir()
	pdf := filepath.Join(dir, "du-toan.pdf")
	f.Must(os.WriteFile(pdf, DemoPDF("Du toan", 2), 0o644))
	exe := filepath.Join(dir, "setup.exe")
	f.Must(os.WriteFile(exe, []byte("MZ"), 0o644))

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), hubtest.ChromeAllocatorOptions(t, chromium)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	cookie := f.Session("canbo")
	f.Must(chromedp.Do(ctx, chromedp.Navigate(base+"/healthz")))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.cookie = %q`, cookie.Name+"="+cookie.Value+"; path=/")))
	f.Must(err)
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, c := context.WithTimeout(ctx, hubtest.Timeout(30*time.Second))
		defer c()
		if err := chromedp.Do(tctx, steps...); err != nil {
			msg, _ := chromedp.Run(ctx, chromedp.Text(css("#msg")))
			t.Fatalf("%s: %v (page says %q)", what, err, msg)
		}
	}
	step("open the page", chromedp.Navigate(base+"/meetings?unit=03244"), chromedp.WaitVisible(css(`body[data-ready="true"]`)))
	step("create a meeting",
		chromedp.SendKeys(css(`#create [name=title]`), "Họp bàn kế hoạch mùa đông"),
		chromedp.SendKeys(css(`#create [name=unit]`), "03244"),
		chromedp.SendKeys(css(`#create [name=starts_date]`), "31/02/2026"),
		chromedp.SendKeys(css(`#create [name=starts_time]`), "14:30"),
		chromedp.Click(css(`#create button[type=submit]`)),
		meetingstest.Void(chromedp.Poll[bool](`document.getElementById('msg').textContent.includes('09/12/2026')`, chromedp.WithPollingTimeout(hubtest.Timeout(10*time.Second)))),
		chromedp.SetValue(css(`#create [name=starts_date]`), "10/12/2026"),
		chromedp.SetValue(css(`#create [name=seats]`), "5"),
		chromedp.Click(css(`#create button[type=submit]`)),
		chromedp.WaitVisible(css(`#detail:not([hidden])`)),
	)
	step("invite the chair",
		chromedp.SendKeys(css(`#invite [name=username]`), "chutich"),
		chromedp.SetValue(css(`#invite [name=role]`), "chair"),
		chromedp.Click(css(`#invite button[type=submit]`)),
		meetingstest.Void(chromedp.Poll[bool](`document.querySelectorAll('#invitees tr').length === 1`, chromedp.WithPollingTimeout(hubtest.Timeout(10*time.Second)))),
	)
	step("invite a guest",
		chromedp.SendKeys(css(`#invite [name=name]`), "Giàng A Páo"),
		chromedp.SetValue(css(`#invite [name=role]`), "guest"),
		chromedp.Click(css(`#invite button[type=submit]`)),
		chromedp.WaitVisible(css(`#token:not([hidden])`)),
	)
	first, err := chromedp.Run(ctx, chromedp.Text(css(`#token`)))
	f.Must(err)
	step("issue the guest a new link",
		meetingstest.Void(chromedp.Poll[bool](`document.querySelectorAll('#invitees tr').length === 2`, chromedp.WithPollingTimeout(hubtest.Timeout(10*time.Second)))),
		chromedp.Click(css(`#invitees tr:nth-child(2) button:last-child`)),
		meetingstest.Void(chromedp.Poll[bool](fmt.Sprintf(`document.getElementById('token').textContent !== %q`, first), chromedp.WithPollingTimeout(hubtest.Timeout(10*time.Second)))),
	)
	step("add an agenda item",
		chromedp.SendKeys(css(`#item [name=title]`), "Dự toán chống rét"),
		chromedp.Click(css(`#item button[type=submit]`)),
		chromedp.WaitVisible(css(`#agenda li input[type=file]`)),
	)
	step("upload a wrong type", chromedp.SetUploadFiles(css(`#agenda li > label input[type=file]`), []string{exe}),
		meetingstest.Void(chromedp.Poll[bool](`document.getElementById('msg').textContent.includes('.exe')`, chromedp.WithPollingTimeout(hubtest.Timeout(10*time.Second)))))
	step("upload the document", chromedp.SetUploadFiles(css(`#agenda li > label input[type=file]`), []string{pdf}),
		chromedp.WaitVisible(css(`#agenda li ul li a`)))

	list, err := f.P.ListMeetings(f.Ctx, "03244", time.Time{}, time.Now().AddDate(2, 0, 0))
	f.Must(err)
	m := list[len(list)-1]
	inv, err := f.P.Invitees(f.Ctx, m.ID)
	f.Must(err)
	docs, err := f.P.Documents(f.Ctx, m.ID)
	f.Must(err)
	agenda, err := f.P.Agenda(f.Ctx, m.ID)
	f.Must(err)
	if tok, err := chromedp.Run(ctx, chromedp.Text(css(`#token`))); err != nil || !strings.Contains(tok, "?invite=mtg_") {
		t.Errorf("the new link shows %q (%v)", tok, err)
	} else if _, used, err := f.P.InviteState(f.Ctx, m.ID, tok[strings.Index(tok, "?invite=")+len("?invite="):]); err != nil || used {
		t.Errorf("the link on the page is not the guest's live link: %v", err)
	}
	if m.Title != "Họp bàn kế hoạch mùa đông" || m.Seats != 5 || len(inv) != 2 || inv[0].Role != RoleChair || !inv[1].Guest ||
		len(agenda) != 1 || len(docs) != 1 || docs[0].Versions[0].Filename != "du-toan.pdf" || *docs[0].Item != agenda[0].ID {
		t.Fatalf("recorded %+v, invitees %d, agenda %+v, documents %d", m, len(inv), agenda, len(docs))
	}
	if want := time.Date(2026, 12, 10, 7, 30, 0, 0, time.UTC); !m.StartsAt.Equal(want) { // 14:30 in Vietnam, whatever the browser's zone
		t.Fatalf("starts at %v, want %v", m.StartsAt, want)
	}
}
