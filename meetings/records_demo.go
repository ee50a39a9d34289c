package meetings

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// DemoTitle is the title of the seeded demo meeting.
const DemoTitle = "Phiên họp UBND xã Sáng Nhè (họp thử)"

// DemoUsers are the demo meeting's invitees: username, name, position, role.
var DemoUsers = []struct{ Username, Name, Position, Role string }{
	{"chutich", "Lò Văn Minh", "Chủ tịch UBND xã", "chair"},
	{"thuky", "Quàng Thị Hoa", "Công chức Văn phòng - Thống kê", "member"},
	{"phochutich", "Mùa A Dình", "Phó Chủ tịch UBND xã", "member"},
	{"uyvien1", "Cà Thị Lan", "Ủy viên UBND xã, Trưởng Công an xã", "member"},
	{"uyvien2", "Vàng A Sử", "Ủy viên UBND xã, Chỉ huy trưởng Quân sự", "member"},
}

// DemoSeed is what SeedDemo created.
type DemoSeed struct {
	Meeting  int64
	Users    []string // demo users created now, who log in with Password
	Password string   // shown once; "" when every demo user already existed
	Created  bool     // a new demo meeting was scheduled
}

// SeedDemo schedules the demo meeting of unit (commune 03244 in demo mode)
// one hour from now: five invitees with accounts (one shared password,
// returned once), a guest, three agenda items and a PDF document on each.
// It does nothing when a demo meeting that has not closed already exists.
func (p *Proceedings) SeedDemo(ctx context.Context, auth *hub.Auth, unit string) (DemoSeed, error) {
	existing, err := demoMeeting(ctx, p.pool, unit, DemoTitle)
	if err == nil {
		return DemoSeed{Meeting: existing}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return DemoSeed{}, err
	}
	b := make([]byte, 9)
	rand.Read(b) // never fails (Go 1.24+)
	password := base64.RawURLEncoding.EncodeToString(b)
	var created []string
	for _, u := range DemoUsers {
		id, err := auth.CreateUser(ctx, u.Username, hub.RoleOfficer, password)
		switch {
		case err == nil:
			created = append(created, u.Username)
			if err := setDisplayName(ctx, p.pool, id, u.Name); err != nil {
				return DemoSeed{}, err
			}
		case hub.ErrorCode(err) == hub.EConflict:
		default:
			return DemoSeed{}, fmt.Errorf("demo user %s: %w", u.Username, err)
		}
	}
	if len(created) == 0 {
		password = ""
	}
	online := true
	start := p.now().Add(time.Hour).Truncate(time.Minute)
	m, err := p.CreateMeeting(ctx, nil, MeetingInput{Unit: unit, Title: DemoTitle, StartsAt: start, EndsAt: ptr(start.Add(2 * time.Hour)),
		Location: "Hội trường UBND xã Sáng Nhè", Online: &online, Seats: len(DemoUsers)})
	if err != nil {
		return DemoSeed{}, err
	}
	for _, u := range DemoUsers {
		if _, _, err := p.Invite(ctx, m.ID, InviteeInput{Username: u.Username, Name: u.Name, Position: u.Position, Role: u.Role,
			Secretary: u.Username == "thuky"}); err != nil {
			return DemoSeed{}, err
		}
	}
	if _, _, err := p.Invite(ctx, m.ID, InviteeInput{Name: "Giàng A Chu", Position: "Trưởng bản Huổi Lụ", Role: "guest"}); err != nil {
		return DemoSeed{}, err
	}
	items := []struct{ title, presenter, doc string }{
		{"Báo cáo tình hình kinh tế - xã hội tháng 11", "Mùa A Dình", "Bao cao kinh te - xa hoi thang 11"},
		{"Kế hoạch sửa chữa đường vào bản Huổi Lụ", "Vàng A Sử", "Ke hoach sua duong ban Huoi Lu"},
		{"Phân bổ kinh phí hỗ trợ phòng, chống rét cho học sinh", "Cà Thị Lan", "Phuong an phan bo kinh phi chong ret"},
	}
	for _, it := range items {
		item, err := p.AddAgendaItem(ctx, m.ID, AgendaInput{Title: it.title, Presenter: it.presenter})
		if err != nil {
			return DemoSeed{}, err
		}
		pdf := DemoPDF(it.doc, 3)
		if _, err := p.Upload(ctx, m.ID, UploadInput{Item: item.ID, Title: it.title, Filename: slug(it.doc) + ".pdf"},
			bytes.NewReader(pdf), int64(len(pdf))); err != nil {
			return DemoSeed{}, err
		}
	}
	return DemoSeed{Meeting: m.ID, Users: created, Password: password, Created: true}, nil
}

func ptr[T any](v T) *T { return &v }

func slug(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

// DemoPDF returns a small valid PDF of pages pages, each saying its title and
// page number (ASCII text: the standard fonts carry no Vietnamese marks).
func DemoPDF(title string, pages int) []byte {
	var buf bytes.Buffer
	offsets := []int{0}
	obj := func(body string) {
		offsets = append(offsets, buf.Len())
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", len(offsets)-1, body)
	}
	buf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	kids := ""
	for i := 0; i < pages; i++ {
		kids += fmt.Sprintf("%d 0 R ", 4+2*i)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", kids, pages))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	for i := 0; i < pages; i++ {
		text := fmt.Sprintf("BT /F1 20 Tf 60 760 Td (%s) Tj 0 -40 Td (Trang %d / %d) Tj ET", pdfEscape(title), i+1, pages)
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 5+2*i))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(text), text))
	}
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(offsets))
	for _, o := range offsets[1:] {
		fmt.Fprintf(&buf, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets), xref)
	return buf.Bytes()
}

func pdfEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 128:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
