package meetingstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings"
)

// Fixture is the meetings tests' fixture, built on meetings' exported API:
// a database with a scheduled meeting of commune 03244: a chair, a
// secretary who is a member, four more members, a guest and an observer.
// The tests of meetings and of meetings/media each wrap it to add their
// own helpers.
type Fixture struct {
	T       testing.TB
	Ctx     context.Context
	Pool    *pgxpool.Pool
	URL     string
	Bus     *hub.Bus
	Core    *hub.Core // the kernel f.P was built on, which every server of f.P serves
	P       *meetings.Proceedings
	Clock   *hubtest.Clock
	Now     func() time.Time // the proceedings' clock: the test clock's unless a test sets another
	Meeting *meetings.Meeting
	Users   map[string]int64             // username → user id
	Inv     map[string]*meetings.Invitee // username (or "guest") → invitee
	Items   []*meetings.AgendaItem
	DataDir string

	GuestToken string
	GuestPass  *http.Cookie // the meeting pass GuestToken gave, once redeemed
	Base       string       // the test server's URL, once Serve ran
	Client     *http.Client
}

// FixtureStart is when the fixture's meeting is scheduled to start.
var FixtureStart = time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC) // 08:00 in Vietnam

// NewFixture seeds a fresh database and starts proceedings on it, the
// clock a day before FixtureStart.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	pool, url := hubtest.NewDB(t, hub.Migrations, meetings.Migrations)
	ctx := context.Background()
	f := &Fixture{T: t, Ctx: ctx, Pool: pool, URL: url, Clock: hubtest.NewClock(FixtureStart.Add(-24 * time.Hour)),
		Users: map[string]int64{}, Inv: map[string]*meetings.Invitee{}, DataDir: t.TempDir()}
	if _, err := pool.Exec(ctx, `INSERT INTO admin_units(code, name, level, kind, parent_code, valid_from) VALUES
		('11','Tỉnh Điện Biên','province','tỉnh',NULL,'2025-07-01'), ('03244','Xã Sáng Nhè','commune','xã','11','2025-07-01')`); err != nil {
		t.Fatal(err)
	}
	people := []struct{ user, name, pos string }{
		{"chutich", "Lò Văn Minh", "Chủ tịch UBND xã"},
		{"thuky", "Quàng Thị Hoa", "Công chức Văn phòng - Thống kê"},
		{"pct1", "Mùa A Dình", "Phó Chủ tịch UBND xã"},
		{"pct2", "Lường Văn Thắng", "Phó Chủ tịch UBND xã"},
		{"uv1", "Cà Thị Lan", "Ủy viên UBND xã"},
		{"uv2", "Vàng A Sử", "Ủy viên UBND xã"},
		{"quansat", "Tòng Văn Hải", "Cán bộ Đảng ủy"},
	}
	for _, u := range people {
		var id int64
		role := "viewer" // invitees need no hub role to take part
		if u.user == "thuky" {
			role = "officer"
		}
		if err := pool.QueryRow(ctx, `INSERT INTO users(username, display_name, role, password_hash) VALUES ($1,$2,$3,'x') RETURNING id`,
			u.user, u.name, role).Scan(&id); err != nil {
			t.Fatal(err)
		}
		f.Users[u.user] = id
	}
	for _, u := range []struct{ user, role string }{{"admin", "admin"}, {"outsider", "viewer"}, {"canbo", "officer"}} {
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO users(username, role, password_hash) VALUES ($1,$2,'x') RETURNING id`, u.user, u.role).Scan(&id); err != nil {
			t.Fatal(err)
		}
		f.Users[u.user] = id
	}
	f.Now = f.Clock.Now
	f.Core = NewCore(pool)
	f.Bus = f.Core.Bus
	p := f.StartProceedings(meetings.ProceedingsConfig{DataDir: f.DataDir, DocMaxBytes: 1 << 20, ReconnectGrace: 30 * time.Second, Instance: "test"}, f.Core)
	f.P = p
	online := true
	var err error
	f.Meeting, err = p.CreateMeeting(ctx, nil, meetings.MeetingInput{Unit: "03244", Title: "Phiên họp thường kỳ tháng 12 năm 2026",
		StartsAt: FixtureStart, Location: "Hội trường UBND xã Sáng Nhè", Online: &online, Seats: 6})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{"chutich": "chair", "quansat": "observer"}
	for _, u := range people {
		role := roles[u.user]
		if role == "" {
			role = "member"
		}
		inv, _, err := p.Invite(ctx, f.Meeting.ID, meetings.InviteeInput{Username: u.user, Position: u.pos, Role: role, Secretary: u.user == "thuky"})
		if err != nil {
			t.Fatalf("invite %s: %v", u.user, err)
		}
		f.Inv[u.user] = inv
	}
	guest, token, err := p.Invite(ctx, f.Meeting.ID, meetings.InviteeInput{Name: "Giàng A Chu", Position: "Trưởng bản Huổi Lụ", Role: "guest"})
	if err != nil || token == "" {
		t.Fatalf("invite guest: %v (token %q)", err, token)
	}
	f.Inv["guest"] = guest
	f.GuestToken = token
	for _, title := range []string{"Báo cáo kinh tế - xã hội tháng 11", "Kế hoạch sửa đường bản Huổi Lụ", "Phân bổ kinh phí phòng chống rét"} {
		it, err := p.AddAgendaItem(ctx, f.Meeting.ID, meetings.AgendaInput{Title: title})
		if err != nil {
			t.Fatal(err)
		}
		f.Items = append(f.Items, it)
	}
	return f
}

// Must fails the test on err.
func (f *Fixture) Must(err error) {
	f.T.Helper()
	if err != nil {
		f.T.Fatal(err)
	}
}

// WantCode fails the test unless err is an *hub.Error with code.
func (f *Fixture) WantCode(err error, code string) {
	f.T.Helper()
	if err == nil {
		f.T.Fatalf("want a %s error, got success", code)
	}
	if got := hub.ErrorCode(err); got != code {
		f.T.Fatalf("want a %s error, got %s: %v", code, got, err)
	}
}

// Open starts the meeting with everyone in except uv2 and the observer.
func (f *Fixture) Open() {
	f.T.Helper()
	f.Clock.Set(FixtureStart)
	for _, u := range []string{"chutich", "thuky", "pct1", "pct2", "uv1", "guest"} {
		mode := meetings.AttOnline
		if u == "chutich" || u == "thuky" || u == "pct1" {
			mode = meetings.AttInHall
		}
		f.Must(f.P.Join(f.Ctx, f.Inv[u], mode))
	}
	f.Must(f.P.OpenMeeting(f.Ctx, f.Inv["chutich"]))
}

// Count runs a counting query.
func (f *Fixture) Count(sql string, args ...any) int {
	f.T.Helper()
	var n int
	if err := f.Pool.QueryRow(f.Ctx, sql, args...).Scan(&n); err != nil {
		f.T.Fatal(err)
	}
	return n
}

// NopLog is a logger that drops everything.
func NopLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// NewCore is one hub instance's kernel on pool, as run wires it: its bus
// is strict (publishing a topic no family covers fails) on its topic
// register, where proceedings declare the meetings families and which
// applies their read rules through its guards. The tests' own test/+
// family is declared there too, with no read rule.
func NewCore(pool *pgxpool.Pool) *hub.Core {
	core := &hub.Core{Pool: pool, Auth: hub.NewAuth(pool, hub.AuthConfig{}, NopLog()), Units: hub.NewUnits(pool),
		Metrics: hub.NewMetrics(), Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: NopLog()}
	core.Topics = hub.NewTopics(&core.Guards)
	core.Topics.MustDeclare(hub.TopicFamily{Pattern: "test/+", Kind: "test", Owner: "meetings tests"})
	core.Bus = hub.NewBus(hub.BusOptions{Topics: core.Topics, Strict: true})
	return core
}

// StartProceedings builds and starts proceedings on core, on the test's
// clock.
func (f *Fixture) StartProceedings(cfg meetings.ProceedingsConfig, core *hub.Core) *meetings.Proceedings {
	f.T.Helper()
	cfg.Now = func() time.Time { return f.Now() }
	p, err := meetings.NewProceedings(cfg, core.Deps("meetings"))
	f.Must(err)
	f.Must(p.Start(f.Ctx))
	return p
}

// Serve starts the records-and-proceedings API on a real listener, as the
// hub wires it (kernel routes, auth, /ws, outbox follower), and returns its URL.
func (f *Fixture) Serve() string {
	f.T.Helper()
	if f.Base != "" {
		return f.Base
	}
	core := f.Core
	app := hub.NewApp(hub.AppOptions{Logger: NopLog()})
	f.P.Mount(core.Routes(app, core.Mount(app)))
	// What Run does for the guards, without its attendance sweeper: the
	// tests sweep on their own clock.
	gctx, stopGuards := context.WithCancel(context.Background())
	guardsDone := make(chan struct{})
	go func() { defer close(guardsDone); _ = core.Guards.InvalidateOn(gctx, f.Bus, meetings.AccessPattern) }()
	f.T.Cleanup(func() { stopGuards(); <-guardsDone })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.T.Fatal(err)
	}
	go app.Listener(ln)
	f.T.Cleanup(func() {
		core.Sockets.CloseAll(hub.CloseGoingAway, "test over", time.Second)
		_ = app.ShutdownWithTimeout(2 * time.Second)
	})
	f.StartFollower()
	f.Base = "http://" + ln.Addr().String()
	f.Client = &http.Client{Timeout: hubtest.Timeout(20 * time.Second)}
	return f.Base
}

// Session logs a user in by writing a session row; it returns the cookie.
func (f *Fixture) Session(user string) *http.Cookie {
	f.T.Helper()
	tok := make([]byte, 16)
	rand.Read(tok)
	val := hex.EncodeToString(tok)
	h := sha256.Sum256([]byte(val))
	if _, err := f.Pool.Exec(f.Ctx, `INSERT INTO sessions(token_hash, user_id, expires_at) VALUES ($1,$2,now()+interval '1 hour')`,
		h[:], f.Users[user]); err != nil {
		f.T.Fatal(err)
	}
	return &http.Cookie{Name: hub.SessionCookie, Value: val}
}

// Cookie is user's credential: a session, or for "guest" the meeting pass
// of the guest's invite link (redeemed the first time it is asked for).
func (f *Fixture) Cookie(user string) *http.Cookie {
	f.T.Helper()
	if user != "guest" {
		return f.Session(user)
	}
	if f.GuestPass == nil {
		secret, _, err := f.P.RedeemInvite(f.Ctx, f.Meeting.ID, f.GuestToken)
		f.Must(err)
		f.GuestPass = &http.Cookie{Name: meetings.PassCookie(f.Meeting.ID), Value: secret}
	}
	return f.GuestPass
}

// Call makes a request as user ("" for none, "guest" for the guest's
// meeting pass) and returns status and body.
func (f *Fixture) Call(method, path, user string, body io.Reader, headers ...string) (int, http.Header, []byte) {
	f.T.Helper()
	req, err := http.NewRequest(method, f.Serve()+path, body)
	if err != nil {
		f.T.Fatal(err)
	}
	if user != "" {
		req.AddCookie(f.Cookie(user))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		f.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.T.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// JSON makes a JSON request and decodes the JSON answer into out (if not nil).
func (f *Fixture) JSON(method, path, user string, in any, want int, out any) []byte {
	f.T.Helper()
	var body io.Reader
	if in != nil {
		switch v := in.(type) {
		case string:
			body = strings.NewReader(v)
		default:
			b, _ := json.Marshal(v)
			body = bytes.NewReader(b)
		}
	}
	status, _, b := f.Call(method, path, user, body, "Content-Type", "application/json")
	if status != want {
		f.T.Fatalf("%s %s as %q = %d %s, want %d", method, path, user, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.T.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return b
}

// MustJSON decodes b into v or fails the test.
func MustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

// Reschedule moves the fixture's meeting to start at starts and end at ends.
func (f *Fixture) Reschedule(starts, ends time.Time) {
	f.T.Helper()
	m := f.Meeting
	online := m.Online
	_, err := f.P.UpdateMeeting(f.Ctx, m.ID, meetings.MeetingInput{Unit: m.Unit, Title: m.Title, StartsAt: starts, EndsAt: &ends,
		Location: m.Location, Online: &online, Seats: m.Seats, QuorumRule: string(m.QuorumRule), PassRule: string(m.PassRule)})
	f.Must(err)
}

// StartFollower publishes committed outbox rows on the fixture's bus.
func (f *Fixture) StartFollower() {
	ctx, cancel := context.WithCancel(context.Background())
	fol := hub.NewOutboxFollower(f.Pool, f.Bus, NopLog(), nil)
	done := make(chan struct{})
	go func() { defer close(done); fol.Run(ctx) }()
	f.T.Cleanup(func() { cancel(); <-done })
	// Until it has primed, the follower would publish only the latest event
	// of each topic: wait, so that what the test does next is followed.
	hubtest.WaitFor(f.T, 10*time.Second, func() bool { return fol.LastID() > 0 }, "the outbox follower to start")
}
