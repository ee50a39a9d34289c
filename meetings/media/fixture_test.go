package media

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

func TestMain(m *testing.M) { hubtest.Main(m) }

// testClock is the shared settable test clock.
type testClock = hubtest.Clock

// fixture is meetings' test fixture, built on its exported API: a database
// with a scheduled meeting of commune 03244: a chair,
// a secretary who is a member, four more members, a guest and an observer.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	pool    *pgxpool.Pool
	url     string
	bus     *hub.Bus
	core    *hub.Core // the kernel f.p was built on, which every server of f.p serves
	p       *meetings.Proceedings
	clock   *testClock
	now     func() time.Time // the proceedings' clock: the test clock's unless a test sets another
	meeting *meetings.Meeting
	users   map[string]int64             // username → user id
	inv     map[string]*meetings.Invitee // username (or "guest") → invitee
	items   []*meetings.AgendaItem
	dataDir string

	guestToken string
	guestPass  *http.Cookie // the meeting pass guestToken gave, once redeemed
	base       string       // the test server's URL, once serve ran
	client     *http.Client
}

var fixtureStart = time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC) // 08:00 in Vietnam

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pool, url := hubtest.NewDB(t, hub.Migrations, meetings.Migrations)
	ctx := context.Background()
	f := &fixture{t: t, ctx: ctx, pool: pool, url: url, clock: hubtest.NewClock(fixtureStart.Add(-24 * time.Hour)),
		users: map[string]int64{}, inv: map[string]*meetings.Invitee{}, dataDir: t.TempDir()}
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
		f.users[u.user] = id
	}
	for _, u := range []struct{ user, role string }{{"admin", "admin"}, {"outsider", "viewer"}, {"canbo", "officer"}} {
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO users(username, role, password_hash) VALUES ($1,$2,'x') RETURNING id`, u.user, u.role).Scan(&id); err != nil {
			t.Fatal(err)
		}
		f.users[u.user] = id
	}
	f.now = f.clock.Now
	f.core = testCore(pool)
	f.bus = f.core.Bus
	p := f.startProceedings(meetings.ProceedingsConfig{DataDir: f.dataDir, DocMaxBytes: 1 << 20, ReconnectGrace: 30 * time.Second, Instance: "test"}, f.core)
	f.p = p
	online := true
	var err error
	f.meeting, err = p.CreateMeeting(ctx, nil, meetings.MeetingInput{Unit: "03244", Title: "Phiên họp thường kỳ tháng 12 năm 2026",
		StartsAt: fixtureStart, Location: "Hội trường UBND xã Sáng Nhè", Online: &online, Seats: 6})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{"chutich": "chair", "quansat": "observer"}
	for _, u := range people {
		role := roles[u.user]
		if role == "" {
			role = "member"
		}
		inv, _, err := p.Invite(ctx, f.meeting.ID, meetings.InviteeInput{Username: u.user, Position: u.pos, Role: role, Secretary: u.user == "thuky"})
		if err != nil {
			t.Fatalf("invite %s: %v", u.user, err)
		}
		f.inv[u.user] = inv
	}
	guest, token, err := p.Invite(ctx, f.meeting.ID, meetings.InviteeInput{Name: "Giàng A Chu", Position: "Trưởng bản Huổi Lụ", Role: "guest"})
	if err != nil || token == "" {
		t.Fatalf("invite guest: %v (token %q)", err, token)
	}
	f.inv["guest"] = guest
	f.guestToken = token
	for _, title := range []string{"Báo cáo kinh tế - xã hội tháng 11", "Kế hoạch sửa đường bản Huổi Lụ", "Phân bổ kinh phí phòng chống rét"} {
		it, err := p.AddAgendaItem(ctx, f.meeting.ID, meetings.AgendaInput{Title: title})
		if err != nil {
			t.Fatal(err)
		}
		f.items = append(f.items, it)
	}
	return f
}

// must fails the test on err.
func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// wantCode fails the test unless err is an *hub.Error with code.
func (f *fixture) wantCode(err error, code string) {
	f.t.Helper()
	if err == nil {
		f.t.Fatalf("want a %s error, got success", code)
	}
	if got := hub.ErrorCode(err); got != code {
		f.t.Fatalf("want a %s error, got %s: %v", code, got, err)
	}
}

// open starts the meeting with everyone in except uv2 and the observer.
func (f *fixture) open() {
	f.t.Helper()
	f.clock.Set(fixtureStart)
	for _, u := range []string{"chutich", "thuky", "pct1", "pct2", "uv1", "guest"} {
		mode := meetings.AttOnline
		if u == "chutich" || u == "thuky" || u == "pct1" {
			mode = meetings.AttInHall
		}
		f.must(f.p.Join(f.ctx, f.inv[u], mode))
	}
	f.must(f.p.OpenMeeting(f.ctx, f.inv["chutich"]))
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func nopLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testCore is one hub instance's kernel on pool, as run wires it: its bus
// is strict (publishing a topic no family covers fails) on its topic
// register, where proceedings declare the meetings families and which
// applies their read rules through its guards.
func testCore(pool *pgxpool.Pool) *hub.Core {
	core := &hub.Core{Pool: pool, Auth: hub.NewAuth(pool, hub.AuthConfig{}, nopLog()), Units: hub.NewUnits(pool),
		Metrics: hub.NewMetrics(), Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: nopLog()}
	core.Topics = hub.NewTopics(&core.Guards)
	core.Bus = hub.NewBus(hub.BusOptions{Topics: core.Topics, Strict: true})
	return core
}

// startProceedings builds and starts proceedings on core, on the test's
// clock.
func (f *fixture) startProceedings(cfg meetings.ProceedingsConfig, core *hub.Core) *meetings.Proceedings {
	f.t.Helper()
	cfg.Now = func() time.Time { return f.now() }
	p, err := meetings.NewProceedings(cfg, core.Deps("meetings"))
	f.must(err)
	f.must(p.Start(f.ctx))
	return p
}

// serve starts the records-and-proceedings API on a real listener, as the
// hub wires it (kernel routes, auth, /ws, outbox follower), and returns its URL.
func (f *fixture) serve() string {
	f.t.Helper()
	if f.base != "" {
		return f.base
	}
	core := f.core
	app := hub.NewApp(hub.AppOptions{Logger: nopLog()})
	f.p.Mount(core.Routes(app, core.Mount(app)))
	// What Run does for the guards, without its attendance sweeper: the
	// tests sweep on their own clock.
	gctx, stopGuards := context.WithCancel(context.Background())
	guardsDone := make(chan struct{})
	go func() { defer close(guardsDone); _ = core.Guards.InvalidateOn(gctx, f.bus, meetings.AccessPattern) }()
	f.t.Cleanup(func() { stopGuards(); <-guardsDone })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	go app.Listener(ln)
	f.t.Cleanup(func() {
		core.Sockets.CloseAll(hub.CloseGoingAway, "test over", time.Second)
		_ = app.ShutdownWithTimeout(2 * time.Second)
	})
	f.startFollower()
	f.base = "http://" + ln.Addr().String()
	f.client = &http.Client{Timeout: hubtest.Timeout(20 * time.Second)}
	return f.base
}

// session logs a user in by writing a session row; it returns the cookie.
func (f *fixture) session(user string) *http.Cookie {
	f.t.Helper()
	tok := make([]byte, 16)
	rand.Read(tok)
	val := hex.EncodeToString(tok)
	h := sha256.Sum256([]byte(val))
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO sessions(token_hash, user_id, expires_at) VALUES ($1,$2,now()+interval '1 hour')`,
		h[:], f.users[user]); err != nil {
		f.t.Fatal(err)
	}
	return &http.Cookie{Name: hub.SessionCookie, Value: val}
}

// cookie is user's credential: a session, or for "guest" the meeting pass
// of the guest's invite link (redeemed the first time it is asked for).
func (f *fixture) cookie(user string) *http.Cookie {
	f.t.Helper()
	if user != "guest" {
		return f.session(user)
	}
	if f.guestPass == nil {
		secret, _, err := f.p.RedeemInvite(f.ctx, f.meeting.ID, f.guestToken)
		f.must(err)
		f.guestPass = &http.Cookie{Name: meetings.PassCookie(f.meeting.ID), Value: secret}
	}
	return f.guestPass
}

// call makes a request as user ("" for none, "guest" for the guest's
// meeting pass) and returns status and body.
func (f *fixture) call(method, path, user string, body io.Reader, headers ...string) (int, http.Header, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.serve()+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if user != "" {
		req.AddCookie(f.cookie(user))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// json makes a JSON request and decodes the JSON answer into out (if not nil).
func (f *fixture) json(method, path, user string, in any, want int, out any) []byte {
	f.t.Helper()
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
	status, _, b := f.call(method, path, user, body, "Content-Type", "application/json")
	if status != want {
		f.t.Fatalf("%s %s as %q = %d %s, want %d", method, path, user, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return b
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

func bytesReaderOf(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// reschedule moves the fixture's meeting to start at starts and end at ends.
func (f *fixture) reschedule(starts, ends time.Time) {
	f.t.Helper()
	m := f.meeting
	online := m.Online
	_, err := f.p.UpdateMeeting(f.ctx, m.ID, meetings.MeetingInput{Unit: m.Unit, Title: m.Title, StartsAt: starts, EndsAt: &ends,
		Location: m.Location, Online: &online, Seats: m.Seats, QuorumRule: string(m.QuorumRule), PassRule: string(m.PassRule)})
	f.must(err)
}

// startFollower publishes committed outbox rows on the fixture's bus.
func (f *fixture) startFollower() {
	ctx, cancel := context.WithCancel(context.Background())
	fol := hub.NewOutboxFollower(f.pool, f.bus, nopLog(), nil)
	done := make(chan struct{})
	go func() { defer close(done); fol.Run(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
	// Until it has primed, the follower would publish only the latest event
	// of each topic: wait, so that what the test does next is followed.
	hubtest.WaitFor(f.t, 10*time.Second, func() bool { return fol.LastID() > 0 }, "the outbox follower to start")
}
