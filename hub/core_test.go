package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
)

type testHub struct {
	pool    *pgxpool.Pool
	app     *fiber.App
	auth    *hub.Auth
	bus     *hub.Bus
	sockets *hub.Sockets
	core    *hub.Core
}

func newTestHub(t *testing.T) *testHub {
	t.Helper()
	return newTestHubWith(t, hub.AuthConfig{})
}

func newTestHubWith(t *testing.T, cfg hub.AuthConfig, opts ...func(*hub.Core)) *testHub {
	t.Helper()
	pool, _ := hubtest.NewDB(t, hub.Migrations)
	if err := hub.SeedUnits(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	m := hub.NewMetrics()
	bus := hub.NewBus(hub.BusOptions{Metrics: m})
	auth := hub.NewAuth(pool, cfg, log)
	ready := hub.NewReadiness()
	ready.Add("database", func(ctx context.Context) error { return pool.Ping(ctx) })
	sockets := hub.NewSockets()
	core := &hub.Core{Pool: pool, Bus: bus, Auth: auth, Units: hub.NewUnits(pool), Metrics: m,
		Sockets: sockets, Ready: ready, Logger: log}
	for _, o := range opts {
		o(core)
	}
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: m})
	api := core.Mount(app)
	api.Post("/echo", hub.RequireRole(hub.RoleOfficer, hub.RoleAdmin), func(c *fiber.Ctx) error {
		var v struct {
			Count int    `json:"count"`
			Name  string `json:"name"`
		}
		if err := hub.BindJSON(c, &v); err != nil {
			return err
		}
		return c.JSON(v)
	})
	return &testHub{pool: pool, app: app, auth: auth, bus: bus, sockets: sockets, core: core}
}

type reply struct {
	status int
	body   map[string]any
	header http.Header
}

func (h *testHub) do(t *testing.T, method, path string, body []byte, hdr map[string]string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func errField(r reply) (code, field string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return
}

func TestLoginSessionLogout(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	ctx := context.Background()
	if _, err := h.auth.CreateUser(ctx, "lan", hub.RoleOfficer, "correct horse"); err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, "GET", "/api/v1/me", nil, nil); r.status != 401 {
		t.Fatalf("unauthenticated /me = %d", r.status)
	}
	if r := h.do(t, "POST", "/api/v1/login", []byte(`{"username":"lan","password":"wrong pass"}`), nil); r.status != 401 {
		t.Fatalf("wrong password = %d", r.status)
	}
	if r := h.do(t, "POST", "/api/v1/login", []byte(`{"username":"nobody","password":"wrong pass"}`), nil); r.status != 401 {
		t.Fatalf("unknown user = %d", r.status)
	}
	r := h.do(t, "POST", "/api/v1/login", []byte(`{"username":"lan","password":"correct horse"}`), nil)
	if r.status != 200 {
		t.Fatalf("login = %d %v", r.status, r.body)
	}
	cookie := r.header.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(strings.ToLower(cookie), "samesite=lax") {
		t.Errorf("cookie flags missing: %s", cookie)
	}
	session := strings.SplitN(cookie, ";", 2)[0]
	me := h.do(t, "GET", "/api/v1/me", nil, map[string]string{"Cookie": session})
	if me.status != 200 || me.body["name"] != "lan" || me.body["role"] != "officer" {
		t.Fatalf("/me = %d %v", me.status, me.body)
	}
	if r := h.do(t, "POST", "/api/v1/logout", nil, map[string]string{"Cookie": session}); r.status != 204 {
		t.Fatalf("logout = %d", r.status)
	}
	if r := h.do(t, "GET", "/api/v1/me", nil, map[string]string{"Cookie": session}); r.status != 401 {
		t.Fatalf("session still valid after logout: %d", r.status)
	}
}

func TestTokensRolesAndRevocation(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	ctx := context.Background()
	tokens := map[hub.Role]string{}
	ids := map[hub.Role]int64{}
	for _, r := range []hub.Role{hub.RoleAdmin, hub.RoleOfficer, hub.RoleTechnician, hub.RoleViewer} {
		id, tok, err := h.auth.CreateToken(ctx, "t-"+string(r), r, "")
		if err != nil {
			t.Fatal(err)
		}
		tokens[r], ids[r] = tok, id
	}
	bearer := func(r hub.Role) map[string]string { return map[string]string{"Authorization": "Bearer " + tokens[r]} }
	// The role table of the kernel's own routes (features test theirs).
	table := []struct {
		method, path string
		body         string
		want         map[hub.Role]int
	}{
		{"GET", "/api/v1/units?parent=11", "", map[hub.Role]int{hub.RoleAdmin: 200, hub.RoleOfficer: 200, hub.RoleTechnician: 200, hub.RoleViewer: 200}},
		{"GET", "/api/v1/tokens", "", map[hub.Role]int{hub.RoleAdmin: 200, hub.RoleOfficer: 403, hub.RoleTechnician: 403, hub.RoleViewer: 403}},
		{"POST", "/api/v1/tokens", `{"name":"x","role":"viewer"}`, map[hub.Role]int{hub.RoleAdmin: 201, hub.RoleOfficer: 403, hub.RoleTechnician: 403, hub.RoleViewer: 403}},
		{"POST", "/api/v1/echo", `{"count":1}`, map[hub.Role]int{hub.RoleAdmin: 200, hub.RoleOfficer: 200, hub.RoleTechnician: 403, hub.RoleViewer: 403}},
	}
	for _, tt := range table {
		if r := h.do(t, tt.method, tt.path, []byte(tt.body), nil); r.status != 401 {
			t.Errorf("%s %s without credentials = %d, want 401", tt.method, tt.path, r.status)
		}
		for role, want := range tt.want {
			if r := h.do(t, tt.method, tt.path, []byte(tt.body), bearer(role)); r.status != want {
				t.Errorf("%s %s as %s = %d, want %d", tt.method, tt.path, role, r.status, want)
			}
		}
	}
	// access_token query parameter works like the header.
	if r := h.do(t, "GET", "/api/v1/me?access_token="+tokens[hub.RoleViewer], nil, nil); r.status != 200 {
		t.Errorf("access_token = %d", r.status)
	}
	if err := h.auth.RevokeToken(ctx, ids[hub.RoleViewer]); err != nil {
		t.Fatal(err)
	}
	if r := h.do(t, "GET", "/api/v1/me", nil, bearer(hub.RoleViewer)); r.status != 401 {
		t.Errorf("revoked token = %d, want 401", r.status)
	}
	var hash []byte
	if err := h.pool.QueryRow(ctx, `SELECT token_hash FROM api_tokens WHERE id=$1`, ids[hub.RoleAdmin]).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(tokens[hub.RoleAdmin]), hash) || len(hash) != 32 {
		t.Error("token not stored as a SHA-256 hash")
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	_, tok, _ := h.auth.CreateToken(context.Background(), "x", hub.RoleOfficer, "")
	auth := map[string]string{"Authorization": "Bearer " + tok}
	tests := []struct {
		body        string
		status      int
		code, field string
	}{
		{`{"count":"seven"}`, 400, hub.EInvalid, "count"},
		{`{"count":1,"colour":"red"}`, 400, hub.EInvalid, "colour"},
		{`{"count":`, 400, hub.EInvalid, "body"},
		{`{"count":1} {}`, 400, hub.EInvalid, "body"},
		{``, 400, hub.EInvalid, "body"},
		{`[1,2]`, 400, hub.EInvalid, "body"},
	}
	for _, tt := range tests {
		r := h.do(t, "POST", "/api/v1/echo", []byte(tt.body), auth)
		code, field := errField(r)
		if r.status != tt.status || code != tt.code || field != tt.field {
			t.Errorf("body %q → %d %s/%s, want %d %s/%s", tt.body, r.status, code, field, tt.status, tt.code, tt.field)
		}
	}
	big := append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), 2<<20)...)
	big = append(big, `"}`...)
	if r := h.do(t, "POST", "/api/v1/echo", big, auth); r.status != 413 {
		t.Errorf("2 MiB body = %d, want 413", r.status)
	}
	if r := h.do(t, "POST", "/api/v1/login", []byte(`{"username":"a"}`), nil); r.status != 400 {
		t.Errorf("login without password = %d", r.status)
	} else if _, f := errField(r); f != "password" {
		t.Errorf("login error field = %q", f)
	}
	if r := h.do(t, "GET", "/api/v1/units?parent=99", nil, auth); r.status != 404 {
		t.Errorf("unknown parent = %d", r.status)
	}
}

func TestUnitsSeededWithLineage(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	ctx := context.Background()
	units := hub.NewUnits(h.pool)
	provinces, err := units.List(ctx, "")
	if err != nil || len(provinces) != 34 {
		t.Fatalf("provinces = %d, %v", len(provinces), err)
	}
	dienBien, err := units.List(ctx, "11")
	if err != nil || len(dienBien) != 45 {
		t.Fatalf("Điện Biên communes = %d, %v", len(dienBien), err)
	}
	var total int
	_ = h.pool.QueryRow(ctx, `SELECT count(*) FROM admin_units WHERE level='commune'`).Scan(&total)
	if total != 3321 {
		t.Errorf("communes = %d, want 3321", total)
	}
	u, err := units.Get(ctx, "03244")
	if err != nil || u.Name != "Xã Sáng Nhè" || *u.ParentCode != "11" {
		t.Errorf("03244 = %+v, %v", u, err)
	}
	// Mường Đun (03247) was merged whole into Sáng Nhè (03244).
	if s, err := units.Successor(ctx, "03247"); err != nil || s != "03244" {
		t.Errorf("successor of 03247 = %q, %v", s, err)
	}
	if err := hub.SeedUnits(ctx, h.pool); err != nil {
		t.Fatal(err)
	}
	_ = h.pool.QueryRow(ctx, `SELECT count(*) FROM admin_units`).Scan(&total)
	if total != 3321+34 {
		t.Errorf("seeding twice changed the count to %d", total)
	}
}

// Two hubs starting at once on one fresh database both succeed and apply
// each migration once.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	_, url := hubtest.NewDB(t) // empty database
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := hub.OpenPool(context.Background(), url, nil, hub.Migrations)
			if err == nil {
				err = hub.SeedUnits(context.Background(), pool)
				pool.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pool, _ := pgxpool.New(context.Background(), url)
	defer pool.Close()
	var n, units int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations WHERE component='hub'`).Scan(&n)
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM admin_units`).Scan(&units)
	files, _ := fs.Glob(hub.Migrations.FS, "*.sql")
	if n != len(files) || units != 3355 {
		t.Errorf("%d migrations recorded for %d files, units %d", n, len(files), units)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	h := newTestHub(t)
	if r := h.do(t, "GET", "/readyz", nil, nil); r.status != 200 {
		t.Fatalf("readyz = %d %v", r.status, r.body)
	}
	h.pool.Close()
	r := h.do(t, "GET", "/readyz", nil, nil)
	down, _ := r.body["down"].(map[string]any)
	if r.status != 503 || down["database"] == nil {
		t.Fatalf("readyz with pool closed = %d %v", r.status, r.body)
	}
	if r := h.do(t, "GET", "/healthz", nil, nil); r.status != 200 {
		t.Errorf("healthz = %d", r.status)
	}
}
