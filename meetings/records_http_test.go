package meetings_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/communehub/communehub/meetings"

	"github.com/communehub/communehub/hub/hubtest"
)

func TestRecordsAPI(t *testing.T) {
	f := newFixture(t)
	var m Meeting
	f.JSON("POST", "/api/v1/meetings", "canbo", map[string]any{"unit": "03244", "title": "Họp giao ban tuần",
		"starts_at": "2026-12-07T07:30:00+07:00", "seats": 5, "location": "Phòng họp số 1"}, 201, &m)
	if m.State != MeetingScheduled || m.Seats != 5 || m.PassRule != PassMajorityOfSeats || m.QuorumRule != QuorumTwoThirdsOfSeats {
		t.Fatalf("created %+v", m)
	}
	bad := []struct {
		body  string
		field string
	}{
		{`{"unit":"03244","starts_at":"2026-12-07T07:30:00+07:00","seats":5}`, "title"},
		{`{"unit":"99999","title":"x","starts_at":"2026-12-07T07:30:00+07:00","seats":5}`, "unit"},
		{`{"unit":"03244","title":"x","starts_at":"2026-12-07T07:30:00+07:00","seats":0}`, "seats"},
		{`{"unit":"03244","title":"x","starts_at":"2026-12-07T07:30:00+07:00","seats":"five"}`, "seats"},
		{`{"unit":"03244","title":"x","seats":5}`, "starts_at"},
		{`{"unit":"03244","title":"x","starts_at":"2026-12-07T07:30:00+07:00","seats":5,"pass_rule":"most"}`, "pass_rule"},
		{`{"unit":"03244","title":"x","starts_at":"2026-12-07T07:30:00+07:00","seats":5,"colour":"red"}`, "colour"},
	}
	for _, b := range bad {
		body := f.JSON("POST", "/api/v1/meetings", "admin", b.body, 400, nil)
		if !strings.Contains(string(body), `"field":"`+b.field+`"`) {
			t.Errorf("%s: %s does not name %s", b.body, body, b.field)
		}
	}
	f.JSON("POST", "/api/v1/meetings", "pct1", map[string]any{"unit": "03244", "title": "x", "starts_at": time.Now(), "seats": 3}, 403, nil)
	f.JSON("POST", "/api/v1/meetings", "", map[string]any{}, 401, nil)

	base := fmt.Sprintf("/api/v1/meetings/%d", m.ID)
	var inv struct {
		Invitee     Invitee `json:"invitee"`
		InviteToken string  `json:"invite_token"`
		InviteURL   string  `json:"invite_url"`
	}
	f.JSON("POST", base+"/invitees", "admin", map[string]any{"username": "chutich", "role": "chair"}, 201, &inv)
	if inv.Invitee.Name != "Lò Văn Minh" || inv.InviteToken != "" {
		t.Fatalf("user invitee %+v", inv)
	}
	f.JSON("POST", base+"/invitees", "admin", map[string]any{"username": "pct1", "role": "chair"}, 409, nil)
	f.JSON("POST", base+"/invitees", "admin", map[string]any{"username": "chutich", "role": "member"}, 409, nil)
	f.JSON("POST", base+"/invitees", "admin", map[string]any{"username": "nobody", "role": "member"}, 400, nil)
	f.JSON("POST", base+"/invitees", "admin", map[string]any{"name": "Khách", "role": "speaker"}, 400, nil)
	f.JSON("POST", base+"/invitees", "admin", map[string]any{"name": "Giàng A Páo", "role": "guest"}, 201, &inv)
	if !strings.HasPrefix(inv.InviteToken, "mtg_") || !strings.Contains(inv.InviteURL, inv.InviteToken) {
		t.Fatalf("guest invite %+v", inv)
	}

	var it AgendaItem
	f.JSON("POST", base+"/agenda", "admin", map[string]any{"title": "Một"}, 201, &it)
	f.JSON("POST", base+"/agenda", "admin", map[string]any{"title": "Hai"}, 201, nil)
	f.JSON("POST", base+"/agenda", "admin", map[string]any{"title": "Không", "position": 1}, 201, nil)
	f.JSON("PUT", fmt.Sprintf("%s/agenda/%d", base, it.ID), "admin", map[string]any{"title": "Một (sửa)", "position": 3}, 200, nil)
	f.JSON("POST", base+"/agenda", "admin", map[string]any{"title": ""}, 400, nil)
	var d MeetingDetail
	f.JSON("GET", base, "chutich", nil, 200, &d)
	var titles []string
	for _, a := range d.Agenda {
		titles = append(titles, fmt.Sprintf("%d:%s", a.Position, a.Title))
	}
	if strings.Join(titles, ",") != "1:Không,2:Hai,3:Một (sửa)" || d.Me == nil || d.Me.Role != RoleChair || len(d.Invitees) != 2 {
		t.Fatalf("detail: %v me %+v", titles, d.Me)
	}
	f.JSON("DELETE", fmt.Sprintf("%s/agenda/%d", base, d.Agenda[0].ID), "admin", nil, 204, nil)

	// Access: invitees and staff read; others are refused; the guest's link works.
	f.JSON("GET", base, "outsider", nil, 403, nil)
	f.JSON("GET", base, "", nil, 401, nil)
	f.JSON("GET", "/api/v1/meetings/999999", "admin", nil, 404, nil)
	// The guest's link is not an API credential; the pass it gives is.
	if b := f.JSON("GET", base+"?invite="+inv.InviteToken, "", nil, 403, nil); !strings.Contains(string(b), `"field":"invite"`) {
		t.Errorf("an invite token on the API: %s", b)
	}
	secret, _, err := f.P.RedeemInvite(f.Ctx, m.ID, inv.InviteToken)
	f.Must(err)
	status, _, b := f.Call("GET", base, "", nil, "Cookie", PassCookie(m.ID)+"="+secret)
	if status != 200 {
		t.Fatalf("guest with a pass: %d %s", status, b)
	}
	mustJSON(t, b, &d)
	if d.Me == nil || d.Me.Role != RoleGuest {
		t.Fatalf("guest sees %+v", d.Me)
	}
	var list struct{ Meetings []Meeting }
	f.JSON("GET", "/api/v1/meetings?unit=03244&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z", "canbo", nil, 200, &list)
	if len(list.Meetings) != 2 {
		t.Fatalf("staff list %d meetings", len(list.Meetings))
	}
	f.JSON("GET", "/api/v1/meetings", "uv2", nil, 200, &list) // a member sees their invitations
	if len(list.Meetings) != 1 || list.Meetings[0].ID != f.Meeting.ID {
		t.Fatalf("member list %+v", list.Meetings)
	}
	f.JSON("GET", "/api/v1/meetings?from=yesterday", "canbo", nil, 400, nil)

	var upd Meeting
	f.JSON("PUT", base, "admin", map[string]any{"unit": "03244", "title": "Họp giao ban tuần (dời lịch)",
		"starts_at": "2026-12-08T07:30:00+07:00", "seats": 6, "location": "Phòng họp số 2"}, 200, &upd)
	if upd.Title != "Họp giao ban tuần (dời lịch)" || upd.Seats != 6 || upd.StartsAt.Day() != 8 {
		t.Fatalf("updated %+v", upd)
	}
	f.JSON("PUT", base, "admin", map[string]any{"unit": "03199", "title": "x", "starts_at": "2026-12-08T07:30:00+07:00", "seats": 6}, 400, nil)
	f.JSON("POST", base+"/cancel", "admin", nil, 204, nil)
	f.JSON("POST", base+"/agenda", "admin", map[string]any{"title": "Ba"}, 409, nil)
}

func TestProceedingsOverREST(t *testing.T) {
	f := newFixture(t)
	f.Clock.Set(fixtureStart)
	base := fmt.Sprintf("/api/v1/meetings/%d", f.Meeting.ID)
	cmd := func(user string, body string, want int) map[string]any {
		t.Helper()
		var out map[string]any
		f.JSON("POST", base+"/proceedings", user, body, want, &out)
		return out
	}
	for _, u := range []string{"chutich", "thuky", "pct1", "pct2"} {
		cmd(u, `{"type":"attendance.join","mode":"in_hall"}`, 200)
	}
	cmd("pct1", `{"type":"meeting.open"}`, 403)
	cmd("admin", `{"type":"meeting.open"}`, 403) // staff who are not invited do not take part
	cmd("chutich", `{"type":"meeting.open"}`, 200)
	cmd("chutich", `{"type":"meeting.open"}`, 409)
	cmd("chutich", `{"type":"agenda.open"}`, 400)
	cmd("chutich", fmt.Sprintf(`{"type":"agenda.open","item":%d}`, f.Items[0].ID), 200)
	out := cmd("chutich", `{"type":"vote.open","question":"Thông qua báo cáo","secret":true}`, 200)
	vote := int64(out["vote"].(float64))
	for _, u := range []string{"chutich", "thuky", "pct1"} {
		cmd(u, fmt.Sprintf(`{"type":"vote.cast","vote":%d,"choice":"yes"}`, vote), 200)
	}
	cmd("pct1", fmt.Sprintf(`{"type":"vote.cast","vote":%d,"choice":"no"}`, vote), 409)
	f.JSON("POST", base+"/proceedings", "guest", fmt.Sprintf(`{"type":"vote.cast","vote":%d,"choice":"yes"}`, vote), 403, nil)
	out = cmd("chutich", fmt.Sprintf(`{"type":"vote.close","vote":%d}`, vote), 200)
	if tally := out["tally"].(map[string]any); tally["passed"] != false || tally["yes"] != 3.0 {
		t.Fatalf("tally %v (3 of 6 seats does not pass)", tally)
	}
	var votes struct{ Votes []VoteRecord }
	f.JSON("GET", base+"/votes", "pct2", nil, 200, &votes)
	if len(votes.Votes) != 1 || votes.Votes[0].Ballots != nil || votes.Votes[0].Result.Yes != 3 {
		t.Fatalf("votes %+v", votes.Votes)
	}
	f.JSON("GET", base+"/minutes", "chutich", nil, 404, nil)
	cmd("chutich", `{"type":"meeting.close"}`, 200)
	f.JSON("GET", base+"/minutes", "chutich", nil, 409, nil) // a draft is not served as minutes

	var draft MinutesRecord
	f.JSON("GET", base+"/minutes/draft", "pct2", nil, 200, &draft)
	f.JSON("PUT", base+"/minutes/draft", "pct1", map[string]any{"revision": draft.Revision, "text": "x"}, 403, nil)
	f.JSON("PUT", base+"/minutes/draft", "thuky", map[string]any{"revision": draft.Revision + 5, "text": "x"}, 409, nil)
	f.JSON("PUT", base+"/minutes/draft", "thuky", map[string]any{"revision": draft.Revision, "text": draft.Text + "\nKết luận.\n"}, 200, nil)
	f.JSON("POST", base+"/minutes/approve", "thuky", map[string]any{"revision": draft.Revision + 1}, 403, nil)
	var signed SignedMinutes
	f.JSON("POST", base+"/minutes/approve", "chutich", map[string]any{"revision": draft.Revision + 1}, 200, &signed)
	if !strings.HasSuffix(signed.Text, "Kết luận.\n") || signed.ApprovedBy != "Lò Văn Minh" || signed.KeyID != f.P.Signer().KeyID() {
		t.Fatalf("signed %+v", signed)
	}
	f.JSON("PUT", base+"/minutes/draft", "thuky", map[string]any{"revision": draft.Revision + 1, "text": "changed"}, 409, nil)

	var served SignedMinutes
	f.JSON("GET", base+"/minutes", "outsider", nil, 403, nil)
	f.JSON("GET", base+"/minutes", "pct2", nil, 200, &served)
	if served.SHA256 != signed.SHA256 || served.Signature != signed.Signature {
		t.Fatal("served minutes differ from the approved ones")
	}
	status, h, text := f.Call("GET", base+"/minutes?format=text", "pct2", nil)
	if status != 200 || string(text) != signed.Text || h.Get("X-Minutes-Signature") != signed.Signature {
		t.Fatalf("text form: %d %v", status, h)
	}
	var v Verification
	f.JSON("POST", "/api/v1/minutes/verify", "outsider", served, 200, &v)
	if !v.Valid {
		t.Fatalf("verify: %+v", v)
	}
	// The signature covers the whole record: a copy with any member changed
	// (meeting, unit, title, approved_by, approved_at, revision, …) is invalid.
	_, _, doc := f.Call("GET", base+"/minutes", "pct2", nil)
	for field, b := range TamperEach(t, doc) {
		status, _, body := f.Call("POST", "/api/v1/minutes/verify", "outsider", bytesReaderOf(b), "Content-Type", "application/json")
		var tv Verification
		if status == 200 {
			mustJSON(t, body, &tv)
		}
		if status >= 500 || tv.Valid {
			t.Errorf("%s changed: %d %s", field, status, body)
		}
	}
	// The PDF export: same access as the JSON; it verifies, and an edited
	// embedded copy does not.
	f.JSON("GET", base+"/minutes.pdf", "outsider", nil, 403, nil)
	status, h, pdf := f.Call("GET", base+"/minutes.pdf", "pct2", nil)
	if status != 200 || h.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("minutes.pdf: %d %v", status, h)
	}
	status, _, body := f.Call("POST", "/api/v1/minutes/verify", "outsider", bytesReaderOf(pdf), "Content-Type", "application/pdf")
	if mustJSON(t, body, &v); status != 200 || !v.Valid || v.Source != "pdf" || v.Covers != CoversWholeRecord {
		t.Fatalf("verify the PDF: %d %s", status, body)
	}
	forged := served
	forged.Revision++
	fake, err := RenderMinutesPDF(&forged, v)
	f.Must(err)
	status, _, body = f.Call("POST", "/api/v1/minutes/verify", "outsider", bytesReaderOf(fake), "Content-Type", "application/pdf")
	if mustJSON(t, body, &v); status != 200 || v.Valid {
		t.Fatalf("verify a PDF with an edited embedded copy: %d %s", status, body)
	}
	status, _, body = f.Call("POST", "/api/v1/minutes/verify", "outsider", strings.NewReader("%PDF-1.7\n%%EOF\n"), "Content-Type", "application/pdf")
	if status != 400 || !strings.Contains(string(body), `"field":"body"`) {
		t.Fatalf("verify a PDF without minutes: %d %s", status, body)
	}
	served.Text = strings.Replace(served.Text, "KHÔNG THÔNG QUA", "THÔNG QUA", 1)
	f.JSON("POST", "/api/v1/minutes/verify", "outsider", served, 200, &v)
	if v.Valid {
		t.Fatal("a tampered copy verified")
	}
	f.JSON("POST", "/api/v1/minutes/verify", "outsider", `{"text":"x"}`, 400, nil)
	f.JSON("GET", base+"/minutes/verify", "outsider", nil, 403, nil) // the same rule as the minutes
	f.JSON("GET", base+"/minutes/verify", "pct1", nil, 200, &v)
	if !v.Valid {
		t.Fatalf("stored minutes: %+v", v)
	}

	// The log is served for replay, and replays to the state.
	var evs struct{ Events []ProcEvent }
	f.JSON("GET", base+"/events?after=0", "pct2", nil, 200, &evs)
	st := NewProcState(f.Meeting.ID)
	for _, ev := range evs.Events {
		f.Must(st.Apply(ev))
	}
	if !st.Approved || st.Status != "closed" || st.Votes[0].Result.Yes != 3 {
		t.Fatalf("replayed %+v", st)
	}
	f.JSON("GET", base+"/events?after=-1", "pct2", nil, 400, nil)
}

func TestBusTopicsFollowTheMeeting(t *testing.T) {
	f := newFixture(t)
	f.StartFollower()
	sub, err := f.Bus.Subscribe([]string{StateTopic(f.Meeting.ID), UnitTopic("03244")}, 1<<20)
	f.Must(err)
	defer sub.Close()
	latest := map[string]json.RawMessage{}
	wait := func(what string, ok func() bool) {
		t.Helper()
		hubtest.WaitFor(t, 5*time.Second, func() bool {
			for _, ev := range sub.Drain() {
				latest[ev.Topic] = ev.Data
			}
			return ok()
		}, what)
	}
	snap := func() Snapshot {
		var s Snapshot
		json.Unmarshal(latest[StateTopic(f.Meeting.ID)], &s)
		return s
	}
	unit := func() UnitMeetings {
		var u UnitMeetings
		json.Unmarshal(latest[UnitTopic("03244")], &u)
		return u
	}
	f.Open()
	f.Must(f.P.OpenItem(f.Ctx, f.Inv["chutich"], f.Items[1].ID))
	f.Must(f.P.RaiseHand(f.Ctx, f.Inv["pct2"]))
	f.Must(f.P.GiveFloor(f.Ctx, f.Inv["chutich"], f.Inv["uv1"].ID))
	wait("the snapshot with the speaker", func() bool {
		s := snap()
		return s.Speaker != nil && s.Speaker.Name == "Cà Thị Lan" && s.AgendaItem != nil && s.AgendaItem.Position == 2 && len(s.Queue) == 1
	})
	if s := snap(); s.State != MeetingOpen || len(s.Participants) != 6 || !s.Quorum.Quorate || s.Quorum.Present != 5 || s.Vote != nil {
		t.Fatalf("snapshot %+v", s)
	}
	wait("now on the unit topic", func() bool { u := unit(); return u.Now != nil && u.Now.ID == f.Meeting.ID })
	id, err := f.P.OpenVote(f.Ctx, f.Inv["chutich"], VoteInput{Question: "Sửa đường", Secret: true})
	f.Must(err)
	f.Must(f.P.CastVote(f.Ctx, f.Inv["pct1"], id, ChoiceNo))
	wait("a secret vote in progress", func() bool { s := snap(); return s.Vote != nil && s.Vote.Voted == 1 })
	if s := snap(); s.Vote.Result != nil || !s.Vote.Open || s.Vote.Eligible != 5 {
		t.Fatalf("secret vote shows %+v", s.Vote)
	}
	_, err = f.P.CloseVote(f.Ctx, f.Inv["chutich"], id)
	f.Must(err)
	wait("the result", func() bool { s := snap(); return s.Vote != nil && s.Vote.Result != nil })
	if r := snap().Vote.Result; r.No != 1 || r.Passed {
		t.Fatalf("result %+v", r)
	}
	f.Must(f.P.CloseMeeting(f.Ctx, f.Inv["chutich"]))
	wait("the meeting gone from now", func() bool { u := unit(); return latest[UnitTopic("03244")] != nil && u.Now == nil })
}

func TestProvinceMeetingsHaveTheirOwnTopic(t *testing.T) {
	f := newFixture(t)
	_, err := f.P.CreateMeeting(f.Ctx, nil, MeetingInput{Unit: "11", Title: "Họp UBND tỉnh", StartsAt: fixtureStart.Add(48 * time.Hour), Seats: 9})
	f.Must(err)
	if n := f.Count(`SELECT count(*) FROM outbox WHERE topic='province/11/meetings'`); n != 1 {
		t.Fatalf("%d events on province/11/meetings", n)
	}
	if n := f.Count(`SELECT count(*) FROM outbox WHERE topic='commune/11/meetings'`); n != 0 {
		t.Fatal("a province meeting went to a commune topic")
	}
}

// TestMeetingTimeErrors: a meeting time that is not RFC 3339 is a 422
// naming the field and the expected format in words, on create and on
// update, never the Go layout of encoding/json's error.
func TestMeetingTimeErrors(t *testing.T) {
	f := newFixture(t)
	id := f.Meeting.ID
	bad := []struct{ method, path, body, field string }{
		{"POST", "/api/v1/meetings", `{"unit":"03244","title":"x","starts_at":"tomorrow","seats":5}`, "starts_at"},
		{"POST", "/api/v1/meetings", `{"unit":"03244","title":"x","starts_at":"09/12/2026 08:00","seats":5}`, "starts_at"},
		{"POST", "/api/v1/meetings", `{"unit":"03244","title":"x","starts_at":"2026-12-09T08:00","seats":5}`, "starts_at"},
		{"POST", "/api/v1/meetings", `{"unit":"03244","title":"x","starts_at":20261209,"seats":5}`, "starts_at"},
		{"POST", "/api/v1/meetings", `{"unit":"03244","title":"x","starts_at":"2026-12-09T08:00:00+07:00","ends_at":"noon","seats":5}`, "ends_at"},
		{"PUT", fmt.Sprintf("/api/v1/meetings/%d", id), `{"unit":"03244","title":"x","starts_at":"tomorrow","seats":5}`, "starts_at"},
	}
	for _, b := range bad {
		body := f.JSON(b.method, b.path, "admin", b.body, 422, nil)
		var e struct {
			Error struct{ Code, Field, Message string }
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %v in %s", b.body, err, body)
		}
		if e.Error.Code != "unprocessable" || e.Error.Field != b.field || !strings.HasPrefix(e.Error.Message, b.field+": expected RFC 3339") ||
			!strings.Contains(e.Error.Message, TimeExample) || strings.Contains(e.Error.Message, "2006-01-02") {
			t.Errorf("%s %s: %s", b.method, b.body, body)
		}
	}
	// A time that parses is still the strict decoder's and the rules' business.
	f.JSON("POST", "/api/v1/meetings", "admin", `{"unit":"03244","title":"x","starts_at":"2026-12-09T08:00:00+07:00","seats":5,"colour":1}`, 400, nil)
	f.JSON("POST", "/api/v1/meetings", "admin", `{"unit":"03244","title":"x","starts_at":"2026-12-09T08:00:00+07:00","ends_at":null,"seats":5}`, 201, nil)
}
