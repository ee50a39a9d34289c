package meetings

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// vietnam is the time zone minutes are written in (UTC+7, no DST).
var vietnam = time.FixedZone("ICT", 7*3600)

// MinutesInput is everything a draft is made from: the records and the
// meeting's event log.
type MinutesInput struct {
	Meeting   Meeting
	UnitName  string // e.g. "Xã Sáng Nhè"
	Invitees  []*Invitee
	Agenda    []AgendaItem
	Documents []*Document
	Events    []ProcEvent
}

// DraftMinutes writes the first draft of the minutes in the Vietnamese
// biên bản form (Decree 30/2020/NĐ-CP layout) by replaying the event log:
// attendance, the agenda as discussed, who spoke and for how long, each
// vote and its result. The secretary edits it; the chair approves it.
func DraftMinutes(in MinutesInput) (string, error) {
	st := NewProcState(in.Meeting.ID)
	for _, ev := range in.Events {
		if err := st.Apply(ev); err != nil {
			return "", err
		}
	}
	inv := map[int64]*Invitee{}
	var chair, secretary *Invitee
	for _, v := range in.Invitees {
		inv[v.ID] = v
		if v.Role == RoleChair {
			chair = v
		}
		if v.Secretary {
			secretary = v
		}
	}
	name := func(id int64) string {
		if v := inv[id]; v != nil {
			return v.Name
		}
		return "#" + strconv.FormatInt(id, 10)
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	// Header: issuing body and national motto, number, place and date.
	unitUpper := strings.ToUpper(in.UnitName)
	place := placeName(in.UnitName)
	day := in.Meeting.StartsAt
	if st.OpenedAt != nil {
		day = *st.OpenedAt
	}
	day = day.In(vietnam)
	w("%-38s%s\n", "ỦY BAN NHÂN DÂN", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
	w("%-38s%s\n", unitUpper, "Độc lập - Tự do - Hạnh phúc")
	w("\n")
	w("Số: ....../BB-UBND%20s%s, ngày %02d tháng %02d năm %d\n", "", place, day.Day(), int(day.Month()), day.Year())
	w("\n")
	w("BIÊN BẢN\n")
	w("%s\n", in.Meeting.Title)
	w("\n")

	// I. Time, place, attendance.
	w("I. THỜI GIAN, ĐỊA ĐIỂM, THÀNH PHẦN THAM DỰ\n")
	if st.OpenedAt != nil {
		w("1. Thời gian: bắt đầu lúc %s ngày %s.\n", clock(*st.OpenedAt), date(*st.OpenedAt))
	} else {
		w("1. Thời gian: dự kiến lúc %s ngày %s (cuộc họp chưa khai mạc).\n", clock(in.Meeting.StartsAt), date(in.Meeting.StartsAt))
	}
	where := in.Meeting.Location
	if where == "" {
		where = "(chưa ghi địa điểm)"
	}
	if in.Meeting.Online {
		where += "; kết hợp trực tuyến qua CommuneHub"
	}
	w("2. Địa điểm: %s.\n", where)
	if chair != nil {
		w("3. Chủ trì: %s.\n", person(chair))
	} else {
		w("3. Chủ trì: (chưa phân công).\n")
	}
	if secretary != nil {
		w("4. Thư ký: %s.\n", person(secretary))
	} else {
		w("4. Thư ký: (chưa phân công).\n")
	}
	var hall, online, absent, left, guests []*Invitee
	for _, v := range in.Invitees {
		if !v.Votes() {
			if st.Attendance[v.ID] != nil && st.Attendance[v.ID].Joined != nil {
				guests = append(guests, v)
			}
			continue
		}
		p := st.Attendance[v.ID]
		switch {
		case p == nil || p.Joined == nil:
			absent = append(absent, v)
		case attendedIn(p, AttInHall):
			hall = append(hall, v)
		default:
			online = append(online, v)
		}
		if p != nil && p.Joined != nil && st.ClosedAt != nil && p.Left != nil && p.Left.Before(*st.ClosedAt) {
			left = append(left, v)
		}
	}
	presentN := len(hall) + len(online)
	w("5. Thành phần: tổng số thành viên (số ghế) %d; có mặt %d (tại hội trường %d, trực tuyến %d); vắng mặt %d.\n",
		in.Meeting.Seats, presentN, len(hall), len(online), len(absent))
	list := func(title string, vs []*Invitee, detail func(*Invitee) string) {
		if len(vs) == 0 {
			return
		}
		w("   %s:\n", title)
		for _, v := range vs {
			w("   - %s%s\n", person(v), detail(v))
		}
	}
	span := func(v *Invitee) string { return presenceSpan(st.Attendance[v.ID]) }
	list("Có mặt tại hội trường", hall, span)
	list("Có mặt trực tuyến", online, span)
	list("Vắng mặt", absent, func(v *Invitee) string {
		if p := st.Attendance[v.ID]; p != nil && p.Status == AttAbsent {
			if p.Reason != "" {
				return " – lý do: " + p.Reason
			}
			return " – không có lý do"
		}
		return " – không tham dự"
	})
	list("Khách mời và người dự", guests, span)
	if len(left) > 0 {
		names := make([]string, len(left))
		for i, v := range left {
			names[i] = fmt.Sprintf("%s (rời lúc %s)", v.Name, clock(*st.Attendance[v.ID].Left))
		}
		w("   Rời cuộc họp trước khi kết thúc: %s.\n", strings.Join(names, "; "))
	}
	if in.Meeting.QuorumRule.Quorate(in.Meeting.Seats, presentN) {
		w("   Cuộc họp đủ số thành viên tham dự theo quy định (%d/%d).\n", presentN, in.Meeting.Seats)
	} else {
		w("   Cuộc họp không đủ số thành viên tham dự theo quy định (%d/%d).\n", presentN, in.Meeting.Seats)
	}
	w("\n")

	// II. Content: each agenda item with its documents, speeches and votes.
	w("II. NỘI DUNG CUỘC HỌP\n")
	docsOf := func(item int64) []*Document {
		var out []*Document
		for _, d := range in.Documents {
			if (d.Item == nil && item == 0) || (d.Item != nil && *d.Item == item) {
				out = append(out, d)
			}
		}
		return out
	}
	section := func(item int64) {
		for _, d := range docsOf(item) {
			v := d.Versions[len(d.Versions)-1]
			w("   Tài liệu: %s (%s, phiên bản %d, %s, SHA-256 %s…).\n", d.Title, v.Filename, v.Version, viBytes(v.Size), v.SHA256[:16])
		}
		var speeches []Speech
		for _, s := range st.Speeches {
			if s.Item == item {
				speeches = append(speeches, s)
			}
		}
		if len(speeches) > 0 {
			w("   Ý kiến phát biểu:\n")
			for _, s := range speeches {
				w("   - %s (%s, lúc %s).\n", name(s.Invitee), duration(s.To.Sub(s.From)), clock(s.From))
			}
		}
		for _, v := range st.Votes {
			if v.Item == item {
				writeVote(w, v, name)
			}
		}
	}
	for i, it := range in.Agenda {
		w("%d. %s", i+1, it.Title)
		if it.Presenter != "" {
			w(" (trình bày: %s)", it.Presenter)
		}
		w("\n")
		if !slices.Contains(st.ItemsOpened, it.ID) {
			w("   Nội dung này chưa được thảo luận tại cuộc họp.\n")
			for _, d := range docsOf(it.ID) {
				w("   Tài liệu: %s (%s).\n", d.Title, d.Versions[len(d.Versions)-1].Filename)
			}
			continue
		}
		section(it.ID)
	}
	if hasItemZero(st) || len(docsOf(0)) > 0 {
		w("%d. Các nội dung chung\n", len(in.Agenda)+1)
		section(0)
	}
	w("\n")
	w("III. KẾT LUẬN CỦA CHỦ TRÌ\n")
	w("(Thư ký ghi kết luận của chủ trì cuộc họp.)\n")
	w("\n")
	if st.ClosedAt != nil {
		w("Cuộc họp kết thúc lúc %s ngày %s.\n", clock(*st.ClosedAt), date(*st.ClosedAt))
	}
	w("Biên bản được lập từ nhật ký cuộc họp (%d sự kiện) và có hiệu lực khi chủ trì phê duyệt, ký số.\n", st.Seq)
	w("\n")
	sec, ch := "", ""
	if secretary != nil {
		sec = secretary.Name
	}
	if chair != nil {
		ch = chair.Name
	}
	w("%-38s%s\n", "THƯ KÝ", "CHỦ TRÌ")
	w("%-38s%s\n", sec, ch)
	return b.String(), nil
}

func hasItemZero(st *ProcState) bool {
	for _, s := range st.Speeches {
		if s.Item == 0 {
			return true
		}
	}
	for _, v := range st.Votes {
		if v.Item == 0 {
			return true
		}
	}
	return false
}

func writeVote(w func(string, ...any), v *VoteState, name func(int64) string) {
	kind := "biểu quyết công khai"
	if v.Secret {
		kind = "bỏ phiếu kín"
	}
	w("   Biểu quyết (%s): %s\n", kind, v.Question)
	if v.Result == nil {
		w("   Biểu quyết chưa kết thúc.\n")
		return
	}
	t := v.Result
	notVoted := t.Seats - t.Yes - t.No - t.Abstain
	w("   Đồng ý %d/%d (%s), không đồng ý %d, không biểu quyết %d, không tham gia %d.\n",
		t.Yes, t.Seats, percent(t.Yes, t.Seats), t.No, t.Abstain, notVoted)
	if !v.Secret && len(v.Ballots) > 0 {
		for _, c := range []struct{ choice, label string }{{ChoiceYes, "Đồng ý"}, {ChoiceNo, "Không đồng ý"}, {ChoiceAbstain, "Không biểu quyết"}} {
			var names []string
			for _, id := range v.Voters {
				if v.Ballots[id] == c.choice {
					names = append(names, name(id))
				}
			}
			if len(names) > 0 {
				w("   %s: %s.\n", c.label, strings.Join(names, ", "))
			}
		}
	}
	result := "KHÔNG THÔNG QUA"
	if t.Passed {
		result = "THÔNG QUA"
	}
	w("   Kết quả: %s (%s; cần ít nhất %d phiếu đồng ý).\n", result, ruleText(v.Rule), t.Needed)
}

func ruleText(r PassRule) string {
	switch r {
	case PassTwoThirdsOfSeats:
		return "ít nhất hai phần ba tổng số thành viên"
	case PassMajorityOfPresent:
		return "quá nửa số thành viên có mặt"
	case PassMajorityOfCast:
		return "quá nửa số phiếu biểu quyết"
	case PassMoreYesThanNo:
		return "số đồng ý nhiều hơn số không đồng ý"
	default:
		return "quá nửa tổng số thành viên"
	}
}

func attendedIn(p *Presence, mode string) bool {
	for _, per := range p.Periods {
		if per.Mode == mode {
			return true
		}
	}
	return false
}

func presenceSpan(p *Presence) string {
	if p == nil || p.Joined == nil {
		return ""
	}
	if p.Left != nil && !present(p.Status) {
		return fmt.Sprintf(" (từ %s đến %s)", clock(*p.Joined), clock(*p.Left))
	}
	return fmt.Sprintf(" (từ %s)", clock(*p.Joined))
}

func person(v *Invitee) string {
	if v.Position != "" {
		return v.Name + " – " + v.Position
	}
	return v.Name
}

// placeName strips the kind of unit from its name: "Xã Sáng Nhè" → "Sáng Nhè".
func placeName(unit string) string {
	for _, p := range []string{"Xã ", "Phường ", "Đặc khu ", "Tỉnh ", "Thành phố "} {
		if s, ok := strings.CutPrefix(unit, p); ok {
			return s
		}
	}
	return unit
}

func clock(t time.Time) string {
	t = t.In(vietnam)
	return fmt.Sprintf("%02d giờ %02d phút", t.Hour(), t.Minute())
}

func date(t time.Time) string {
	t = t.In(vietnam)
	return fmt.Sprintf("%02d/%02d/%d", t.Day(), int(t.Month()), t.Year())
}

func duration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%d giây", s)
	case s%60 == 0:
		return fmt.Sprintf("%d phút", s/60)
	}
	return fmt.Sprintf("%d phút %d giây", s/60, s%60)
}

// percent formats n/d as a Vietnamese percentage with one decimal: 71,4%.
func percent(n, d int) string {
	if d == 0 {
		return "0%"
	}
	tenths := (n*1000 + d/2) / d
	s := strconv.Itoa(tenths/10) + "," + strconv.Itoa(tenths%10) + "%"
	return strings.Replace(s, ",0%", "%", 1)
}

func viBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strings.Replace(fmt.Sprintf("%.1f MB", float64(n)/(1<<20)), ".", ",", 1)
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", (n+512)>>10)
	}
	return fmt.Sprintf("%d byte", n)
}
