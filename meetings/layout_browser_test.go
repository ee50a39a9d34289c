package meetings_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/meetingstest"
)

// layoutTab opens a Chromium tab logged in as user, at w×h, recording its
// console errors.
func layoutTab(t *testing.T, f *fixture, base, user string, w, h int64) (context.Context, *meetingstest.Console) {
	t.Helper()
	p := hubtest.NewPage(t, hubtest.Chromium(t), 60*time.Second)
	f.Must(chromedp.Do(p.Ctx, chromedp.EmulateViewport(w, h)))
	f.Must(meetingstest.LogIn(p.Ctx, base, f.Session(user)))
	con := meetingstest.WatchConsole(t, p.Ctx)
	return p.Ctx, con
}

// TestBrowserSchedulePageLayout: at 1366×768 and 1920×1080 the scheduling
// page neither scrolls sideways nor clips text, the create form stays
// inside its card, the page uses the width (the form beside the meeting
// list, the list and its detail the main area), and the console stays
// clean.
func TestBrowserSchedulePageLayout(t *testing.T) {
	f := newFixture(t)
	base := f.Serve()
	for _, sz := range meetingstest.Screens {
		what := fmt.Sprintf("schedule %dx%d", sz.W, sz.H)
		ctx, con := layoutTab(t, f, base, "canbo", sz.W, sz.H)
		f.Must(chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/meetings?unit=03244&meeting=%d", base, f.Meeting.ID))))
		f.Must(hubtest.WaitJS(ctx, 20*time.Second, `document.body.dataset.ready === 'true' && !document.getElementById('detail').hidden`))
		meetingstest.CheckLayout(t, ctx, what)
		probs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
  const out = [], vw = document.documentElement.clientWidth;
  const card = document.getElementById('createCard').getBoundingClientRect();
  for (const el of document.querySelectorAll('#create *')) {
    const r = el.getBoundingClientRect();
    if (r.width && (r.right > card.right + 0.5 || r.left < card.left - 0.5)) out.push('create form: ' + el.tagName + '[name=' + (el.name || '') + '] spills out of its card (' + r.left + '–' + r.right + ' outside ' + card.left + '–' + card.right + ')');
  }
  const list = document.getElementById('list').closest('.card').getBoundingClientRect(), detail = document.getElementById('detail').getBoundingClientRect();
  if (card.right > list.left + 0.5 && card.top < list.bottom) out.push('the form is not beside the list');
  const used = Math.max(list.right, detail.right, card.right) - Math.min(list.left, detail.left, card.left);
  if (used < 0.9 * (vw - 32)) out.push('the page uses ' + Math.round(used) + ' of ' + vw + ' px');
  for (const n of ['starts_date', 'ends_date']) { const i = document.querySelector('#create [name=' + n + ']'); if (i.type !== 'text' || i.placeholder !== 'dd/mm/yyyy') out.push(n + ' is type ' + i.type + ' with placeholder ' + i.placeholder); }
  for (const n of ['starts_time', 'ends_time']) { const i = document.querySelector('#create [name=' + n + ']'); if (i.type !== 'text' || i.placeholder !== 'hh:mm') out.push(n + ' is type ' + i.type + ' with placeholder ' + i.placeholder); }
  if (list.width + 1 < card.width) out.push('the meeting list (' + list.width + ' px) is narrower than the form (' + card.width + ' px)');
  return out;
})()`))
		f.Must(err)
		for _, p := range probs {
			t.Errorf("%s: %s", what, p)
		}
		con.Check(t, what)
	}
}

// TestBrowserPaperlessPageLayout: at 1366×768 and 1920×1080 the paperless
// page of an open meeting neither scrolls sideways nor clips text, the
// minutes take the main width (at least 60 % of the panels' width, not one
// narrow column of a grid), an
// empty speaker queue is an empty-state line, not a numbered item, and the
// console stays clean.
func TestBrowserPaperlessPageLayout(t *testing.T) {
	f := newFixture(t)
	base := f.Serve()
	f.Clock.Set(time.Now())
	f.Now = time.Now
	f.Reschedule(time.Now(), time.Now().Add(2*time.Hour))
	f.Open()
	// A document with a long title and file name, shown by the chair: the
	// viewer and the document list are in the panels too.
	pdf := DemoPDF("Du toan", 2)
	doc, err := f.P.Upload(f.Ctx, f.Meeting.ID, UploadInput{Item: f.Items[2].ID, Title: "Dự toán kinh phí phòng chống rét cho các bản vùng cao năm 2026–2027",
		Filename: "du-toan-kinh-phi-phong-chong-ret-cho-cac-ban-vung-cao-nam-2026-2027-ban-chinh-thuc.pdf"}, bytes.NewReader(pdf), int64(len(pdf)))
	f.Must(err)
	f.Must(f.P.ShowDoc(f.Ctx, f.Inv["chutich"], doc.ID, 0, 1))
	check := func(state string, sz struct{ W, H int64 }) {
		what := fmt.Sprintf("paperless %s %dx%d", state, sz.W, sz.H)
		ctx, con := layoutTab(t, f, base, "chutich", sz.W, sz.H)
		f.Must(chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/meetings/%d/paperless", base, f.Meeting.ID))))
		f.Must(hubtest.WaitJS(ctx, 20*time.Second, `document.body.dataset.ready === 'true' && document.querySelectorAll('.proc-agenda li').length === 3`))
		meetingstest.CheckLayout(t, ctx, what)
		probs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
  const out = [], grid = document.querySelector('.proc-grid').getBoundingClientRect(), min = document.querySelector('.proc-minutes').getBoundingClientRect();
  if (min.width < 0.6 * grid.width) out.push('the minutes are ' + Math.round(min.width) + ' px wide in a ' + Math.round(grid.width) + ' px grid');
  const q = document.querySelector('.proc-queue');
  if (q.querySelectorAll('li').length) out.push('the empty queue has list items: ' + JSON.stringify(q.innerText));
  if (`+fmt.Sprint(state == "open")+` && !q.innerText.includes('Chưa có ai đăng ký')) out.push('the empty queue does not say so: ' + JSON.stringify(q.innerText));
  return out;
})()`))
		f.Must(err)
		for _, p := range probs {
			t.Errorf("%s: %s", what, p)
		}
		con.Check(t, what)
	}
	for _, sz := range meetingstest.Screens {
		check("open", sz)
	}
	f.Must(f.P.CloseMeeting(f.Ctx, f.Inv["chutich"])) // the minutes' draft is there to edit
	for _, sz := range meetingstest.Screens {
		check("closed", sz)
	}
}
