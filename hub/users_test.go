package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
)

// userFixture is a hub with an admin, an officer and a viewer, each with
// a session, for the user administration tests.
type userFixture struct {
	*testHub
	ids     map[string]int64
	cookies map[string]string // username → Cookie header of a session
}

const fixturePassword = "mat-khau-du-dai"

func newUserFixture(t *testing.T, cfg hub.AuthConfig) *userFixture {
	t.Helper()
	f := &userFixture{testHub: newTestHubWith(t, cfg), ids: map[string]int64{}, cookies: map[string]string{}}
	for _, u := range []struct {
		name string
		role hub.Role
	}{{"root", hub.RoleAdmin}, {"lan", hub.RoleOfficer}, {"xem", hub.RoleViewer}} {
		id, err := f.auth.CreateUser(context.Background(), u.name, u.role, fixturePassword)
		if err != nil {
			t.Fatal(err)
		}
		f.ids[u.name] = id
		f.cookies[u.name] = f.login(t, u.name, fixturePassword)
	}
	return f
}

// login opens a session and returns its Cookie header.
func (f *userFixture) login(t *testing.T, user, password string) string {
	t.Helper()
	r := login(t, f.testHub, user, password)
	if r.status != 200 {
		t.Fatalf("login %s = %d %v", user, r.status, r.body)
	}
	return strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]
}

// as makes a request with who's session (who "" for none, or a header
// map of its own when who starts with "Bearer ").
func (f *userFixture) as(t *testing.T, who, method, path string, body any) reply {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	hdr := map[string]string{}
	switch {
	case strings.HasPrefix(who, "Bearer "):
		hdr["Authorization"] = who
	case who != "":
		hdr["Cookie"] = f.cookies[who]
	}
	return f.do(t, method, path, b, hdr)
}

func (f *userFixture) auditActions(t *testing.T) []string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT action FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		_ = rows.Scan(&a)
		out = append(out, a)
	}
	return out
}

// Every user route refuses what it must, with the field named: roles
// (a viewer and an officer get 403, nobody 401), malformed and rule-breaking
// input, unknown users.
func TestUsersAPIRefusals(t *testing.T) {
	t.Parallel()
	f := newUserFixture(t, hub.AuthConfig{})
	_, viewerToken, err := f.auth.CreateToken(context.Background(), "script", hub.RoleViewer, "")
	if err != nil {
		t.Fatal(err)
	}
	root := fmt.Sprint(f.ids["root"])
	tests := []struct {
		name, who, method, path string
		body                    any
		status                  int
		field                   string
	}{
		{"nobody lists", "", "GET", "/api/v1/users", nil, 401, ""},
		{"viewer lists", "xem", "GET", "/api/v1/users", nil, 403, ""},
		{"officer adds", "lan", "POST", "/api/v1/users", `{"username":"x","role":"viewer"}`, 403, ""},
		{"viewer edits", "xem", "PATCH", "/api/v1/users/" + root, `{"role":"viewer"}`, 403, ""},
		{"viewer resets", "xem", "POST", "/api/v1/users/" + root + "/password", nil, 403, ""},
		{"viewer reads the audit log", "xem", "GET", "/api/v1/audit", nil, 403, ""},
		{"viewer token lists", "Bearer " + viewerToken, "GET", "/api/v1/users", nil, 403, ""},
		{"no username", "root", "POST", "/api/v1/users", `{"role":"viewer"}`, 400, "username"},
		{"username with a space", "root", "POST", "/api/v1/users", `{"username":"a b","role":"viewer"}`, 400, "username"},
		{"unknown role", "root", "POST", "/api/v1/users", `{"username":"x","role":"boss"}`, 400, "role"},
		{"unknown commune", "root", "POST", "/api/v1/users", `{"username":"x","role":"viewer","scope":"99999"}`, 422, "scope"},
		{"a password of one's choosing", "root", "POST", "/api/v1/users", `{"username":"x","role":"viewer","password":"12345678"}`, 400, "password"},
		{"display name too long", "root", "POST", "/api/v1/users", map[string]any{"username": "x", "role": "viewer", "display_name": strings.Repeat("ễ", 101)}, 400, "display_name"},
		{"taken username", "root", "POST", "/api/v1/users", `{"username":"lan","role":"viewer"}`, 409, "username"},
		{"bad id", "root", "PATCH", "/api/v1/users/abc", `{"role":"viewer"}`, 400, "id"},
		{"unknown user", "root", "PATCH", "/api/v1/users/999999", `{"role":"viewer"}`, 404, "id"},
		{"unknown user reset", "root", "POST", "/api/v1/users/999999/password", nil, 404, "id"},
		{"bad role change", "root", "PATCH", "/api/v1/users/" + root, `{"role":"chief"}`, 400, "role"},
		{"bad scope change", "root", "PATCH", fmt.Sprint("/api/v1/users/", f.ids["lan"]), `{"scope":"1"}`, 422, "scope"},
		{"disabled not a bool", "root", "PATCH", "/api/v1/users/" + root, `{"disabled":"yes"}`, 400, "disabled"},
		{"own password: wrong current", "xem", "PUT", "/api/v1/me/password", `{"current":"wrong-one","new":"a-new-password"}`, 403, "current"},
		{"own password: no current", "xem", "PUT", "/api/v1/me/password", `{"new":"a-new-password"}`, 400, "current"},
		{"own password: too short", "xem", "PUT", "/api/v1/me/password", `{"current":"` + fixturePassword + `","new":"short"}`, 400, "new"},
		{"own password: unchanged", "xem", "PUT", "/api/v1/me/password", `{"current":"` + fixturePassword + `","new":"` + fixturePassword + `"}`, 400, "new"},
		{"own password: a token has none", "Bearer " + viewerToken, "PUT", "/api/v1/me/password", `{"current":"x","new":"a-new-password"}`, 403, ""},
		{"own password: nobody", "", "PUT", "/api/v1/me/password", `{"current":"x","new":"a-new-password"}`, 401, ""},
		{"audit limit", "root", "GET", "/api/v1/audit?limit=0", nil, 400, "limit"},
		{"audit before", "root", "GET", "/api/v1/audit?before=x", nil, 400, "before"},
	}
	before := len(f.auditActions(t))
	for _, tt := range tests {
		r := f.as(t, tt.who, tt.method, tt.path, tt.body)
		code, field := errField(r)
		if r.status != tt.status || field != tt.field || code == "" {
			t.Errorf("%s: %d %s field %q, want %d field %q (%v)", tt.name, r.status, code, field, tt.status, tt.field, r.body)
		}
	}
	if after := f.auditActions(t); len(after) != before {
		t.Errorf("refused requests wrote audit entries: %v", after[before:])
	}
}

var generated = regexp.MustCompile(`^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$`)

// An admin adds a user; the generated password is in that answer only,
// logs the user in, and appears in no listing and no audit entry.
func TestAddUserShowsThePasswordOnce(t *testing.T) {
	t.Parallel()
	f := newUserFixture(t, hub.AuthConfig{})
	r := f.as(t, "root", "POST", "/api/v1/users", map[string]any{
		"username": "thuy", "display_name": "Lò Thị Thủy", "role": "technician", "scope": "03244"})
	if r.status != 201 {
		t.Fatalf("add = %d %v", r.status, r.body)
	}
	password, _ := r.body["password"].(string)
	user, _ := r.body["user"].(map[string]any)
	if !generated.MatchString(password) || user["username"] != "thuy" || user["scope"] != "03244" || user["role"] != "technician" || user["display_name"] != "Lò Thị Thủy" {
		t.Fatalf("add answered %v", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the one-time password may be cached: Cache-Control %q", cc)
	}
	cookie := f.login(t, "thuy", password)
	me := f.do(t, "GET", "/api/v1/me", nil, map[string]string{"Cookie": cookie})
	if me.body["role"] != "technician" || me.body["scope"] != "03244" {
		t.Errorf("/me of the new user: %v", me.body)
	}
	list := f.as(t, "root", "GET", "/api/v1/users", nil)
	raw, _ := json.Marshal(list.body)
	if list.status != 200 || strings.Contains(string(raw), password) || strings.Contains(string(raw), "argon2") || !strings.Contains(string(raw), `"thuy"`) {
		t.Errorf("list = %d %s", list.status, raw)
	}
	audit := f.as(t, "root", "GET", "/api/v1/audit", nil)
	entries, _ := audit.body["entries"].([]any)
	if len(entries) == 0 {
		t.Fatalf("audit = %v", audit.body)
	}
	e := entries[0].(map[string]any)
	if e["action"] != hub.AuditUserAdd || e["actor"] != "root" || e["actor_kind"] != "user" || e["target"] != "thuy" ||
		e["ip"] == "" || e["details"].(map[string]any)["role"] != "technician" {
		t.Errorf("newest audit entry: %v", e)
	}
	var dump string
	if err := f.pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(a::text, E'\n'), '') FROM audit_log a`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, password) {
		t.Errorf("the audit log holds the password:\n%s", dump)
	}
}

// Disabling a user ends what they hold at once: their session answers 401
// on its next request, the API token they created 401 too, and their
// password 403; a demoted user loses the role's routes on the next
// request. Enabling brings the token back, not the session.
func TestDisabledUserIsLockedOutMidSession(t *testing.T) {
	t.Parallel()
	f := newUserFixture(t, hub.AuthConfig{})
	// A second admin who made a token for a script.
	r := f.as(t, "root", "POST", "/api/v1/users", `{"username":"quan","role":"admin"}`)
	if r.status != 201 {
		t.Fatalf("add = %d %v", r.status, r.body)
	}
	quanID := int64(r.body["user"].(map[string]any)["id"].(float64))
	f.cookies["quan"] = f.login(t, "quan", r.body["password"].(string))
	tok := f.as(t, "quan", "POST", "/api/v1/tokens", `{"name":"quan-script","role":"officer"}`)
	if tok.status != 201 {
		t.Fatalf("token = %d %v", tok.status, tok.body)
	}
	bearer := "Bearer " + tok.body["token"].(string)
	for _, who := range []string{"quan", bearer, "lan"} {
		if r := f.as(t, who, "GET", "/api/v1/me", nil); r.status != 200 {
			t.Fatalf("%.12s before: %d", who, r.status)
		}
	}

	for _, id := range []int64{quanID, f.ids["lan"]} {
		if r := f.as(t, "root", "PATCH", fmt.Sprint("/api/v1/users/", id), `{"disabled":true}`); r.status != 200 || r.body["disabled"] != true {
			t.Fatalf("disable %d = %d %v", id, r.status, r.body)
		}
	}
	for _, who := range []string{"quan", bearer, "lan"} {
		if r := f.as(t, who, "GET", "/api/v1/me", nil); r.status != 401 {
			t.Errorf("%.12s right after being disabled: %d, want 401", who, r.status)
		}
		if r := f.as(t, who, "POST", "/api/v1/echo", `{"count":1}`); r.status != 401 {
			t.Errorf("%.12s writing after being disabled: %d, want 401", who, r.status)
		}
	}
	if r := login(t, f.testHub, "lan", fixturePassword); r.status != 403 {
		t.Errorf("disabled login = %d, want 403", r.status)
	}

	if r := f.as(t, "root", "PATCH", fmt.Sprint("/api/v1/users/", quanID), `{"disabled":false}`); r.status != 200 {
		t.Fatalf("enable = %d %v", r.status, r.body)
	}
	if r := f.as(t, bearer, "GET", "/api/v1/me", nil); r.status != 200 {
		t.Errorf("token of the enabled user: %d, want 200", r.status)
	}
	if r := f.as(t, "quan", "GET", "/api/v1/me", nil); r.status != 401 {
		t.Errorf("old session of the enabled user: %d, want 401", r.status)
	}

	// A role change applies to the next request of an open session.
	cookie := f.login(t, "xem", fixturePassword)
	f.cookies["xem2"] = cookie
	if r := f.as(t, "root", "PATCH", fmt.Sprint("/api/v1/users/", f.ids["xem"]), `{"role":"officer"}`); r.status != 200 {
		t.Fatalf("promote = %d %v", r.status, r.body)
	}
	if r := f.as(t, "xem2", "POST", "/api/v1/echo", `{"count":1}`); r.status != 200 {
		t.Errorf("promoted viewer writing: %d, want 200", r.status)
	}
	if r := f.as(t, "root", "PATCH", fmt.Sprint("/api/v1/users/", f.ids["xem"]), `{"role":"viewer"}`); r.status != 200 {
		t.Fatalf("demote = %d %v", r.status, r.body)
	}
	if r := f.as(t, "xem2", "POST", "/api/v1/echo", `{"count":1}`); r.status != 403 {
		t.Errorf("demoted officer writing: %d, want 403", r.status)
	}
}

// The last active admin can be neither disabled nor demoted (409 naming
// the field), a disabled admin does not count, and two admins demoting
// each other at once cannot both succeed.
func TestLastActiveAdminStays(t *testing.T) {
	t.Parallel()
	f := newUserFixture(t, hub.AuthConfig{})
	root := fmt.Sprint("/api/v1/users/", f.ids["root"])
	for _, body := range []string{`{"disabled":true}`, `{"role":"officer"}`, `{"role":"viewer","display_name":"x"}`} {
		r := f.as(t, "root", "PATCH", root, body)
		code, field := errField(r)
		want := "role"
		if strings.Contains(body, "disabled") {
			want = "disabled"
		}
		if r.status != 409 || code != hub.EConflict || field != want {
			t.Errorf("last admin %s: %d %s %q, want 409 %q", body, r.status, code, field, want)
		}
	}
	if u, _ := f.auth.User(context.Background(), f.ids["root"]); u.Role != hub.RoleAdmin || u.Disabled || u.DisplayName != "" {
		t.Errorf("a refused change changed the user: %+v", u)
	}
	lan := fmt.Sprint("/api/v1/users/", f.ids["lan"])
	if r := f.as(t, "root", "PATCH", lan, `{"role":"admin","disabled":true}`); r.status != 200 {
		t.Fatalf("a disabled second admin: %d %v", r.status, r.body)
	}
	if r := f.as(t, "root", "PATCH", root, `{"role":"officer"}`); r.status != 409 {
		t.Errorf("demoting the one active admin beside a disabled one: %d, want 409", r.status)
	}
	if r := f.as(t, "root", "PATCH", lan, `{"disabled":false}`); r.status != 200 {
		t.Fatalf("enable the second admin: %d %v", r.status, r.body)
	}
	if r := f.as(t, "root", "PATCH", root, `{"role":"officer"}`); r.status != 200 {
		t.Errorf("demoting one of two active admins: %d %v", r.status, r.body)
	}

	// Two active admins demote each other at the same moment, several
	// times over: exactly one of each pair is refused.
	ctx := context.Background()
	a, b := f.ids["root"], f.ids["lan"]
	admin, officer := hub.RoleAdmin, hub.RoleOfficer
	for round := range 8 {
		if _, err := f.auth.UpdateUser(ctx, hub.CLIActor, a, hub.UserChange{Role: &admin}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, pair := range [][2]int64{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.auth.UpdateUser(ctx, hub.Actor{ID: pair[0], Name: "admin", Kind: "user"}, pair[1], hub.UserChange{Role: &officer})
			}()
		}
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case err == nil:
			case hub.ErrorCode(err) == hub.EConflict:
				refused++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if refused != 1 {
			t.Fatalf("round %d: %d of 2 concurrent demotions refused, want 1 (%v)", round, refused, errs)
		}
		var active int
		_ = f.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role='admin' AND NOT disabled`).Scan(&active)
		if active != 1 {
			t.Fatalf("round %d: %d active admins", round, active)
		}
		// Make both admins again for the next round.
		if _, err := f.auth.UpdateUser(ctx, hub.CLIActor, b, hub.UserChange{Role: &admin}); err != nil {
			t.Fatal(err)
		}
	}
}

// A reset gives a new one-time password and ends the user's sessions; a
// user changing their own password keeps the session they use and ends
// the others; wrong current passwords count as failed logins.
func TestPasswordResetAndChange(t *testing.T) {
	t.Parallel()
	f := newUserFixture(t, hub.AuthConfig{Throttle: hub.ThrottleConfig{AccountFree: 3, BaseDelay: time.Minute}})
	r := f.as(t, "root", "POST", fmt.Sprint("/api/v1/users/", f.ids["lan"], "/password"), nil)
	reset, _ := r.body["password"].(string)
	if r.status != 200 || !generated.MatchString(reset) {
		t.Fatalf("reset = %d %v", r.status, r.body)
	}
	if r := f.as(t, "lan", "GET", "/api/v1/me", nil); r.status != 401 {
		t.Errorf("session after a reset: %d, want 401", r.status)
	}
	if r := login(t, f.testHub, "lan", fixturePassword); r.status != 401 {
		t.Errorf("old password after a reset: %d, want 401", r.status)
	}
	f.cookies["lan"] = f.login(t, "lan", reset)
	f.cookies["lan2"] = f.login(t, "lan", reset)

	r = f.as(t, "lan", "PUT", "/api/v1/me/password", map[string]string{"current": reset, "new": "của-tôi-dài-hơn"})
	if r.status != 204 {
		t.Fatalf("change = %d %v", r.status, r.body)
	}
	if r := f.as(t, "lan", "GET", "/api/v1/me", nil); r.status != 200 {
		t.Errorf("the session that changed the password: %d, want 200", r.status)
	}
	if r := f.as(t, "lan2", "GET", "/api/v1/me", nil); r.status != 401 {
		t.Errorf("the user's other session: %d, want 401", r.status)
	}
	if r := login(t, f.testHub, "lan", reset); r.status != 401 {
		t.Errorf("the reset password after the change: %d", r.status)
	}
	f.login(t, "lan", "của-tôi-dài-hơn")

	wrong := map[string]string{"current": "not-it-at-all", "new": "another-long-one"}
	for i := range 3 {
		if r := f.as(t, "lan", "PUT", "/api/v1/me/password", wrong); r.status != 403 {
			t.Fatalf("wrong current #%d: %d", i+1, r.status)
		}
	}
	r = f.as(t, "lan", "PUT", "/api/v1/me/password", map[string]string{"current": "của-tôi-dài-hơn", "new": "another-long-one"})
	if _, field := errField(r); r.status != 429 || field != "current" || r.header.Get("Retry-After") == "" {
		t.Errorf("after 3 wrong current passwords: %d %v Retry-After %q, want 429", r.status, r.body, r.header.Get("Retry-After"))
	}
	if r := login(t, f.testHub, "lan", "của-tôi-dài-hơn"); r.status != 429 {
		t.Errorf("login after 3 wrong current passwords: %d, want 429 (one throttle)", r.status)
	}
}

// Each administrative action writes one audit entry naming who, from
// where, what and whom, in the order done; the table refuses updates and
// deletes; the admins' listing pages by id.
func TestEveryActionIsAudited(t *testing.T) {
	t.Parallel()
	f := newUserFixture(t, hub.AuthConfig{})
	ctx := context.Background()
	start := len(f.auditActions(t)) // the fixture's users, added from the command line
	lan := fmt.Sprint("/api/v1/users/", f.ids["lan"])
	steps := []struct {
		who, method, path string
		body              any
		action            string
	}{
		{"root", "POST", "/api/v1/users", `{"username":"moi","role":"viewer"}`, hub.AuditUserAdd},
		{"root", "PATCH", lan, `{"role":"technician"}`, hub.AuditUserRole},
		{"root", "PATCH", lan, `{"scope":"03244"}`, hub.AuditUserScope},
		{"root", "PATCH", lan, `{"display_name":"Lò Văn Lan"}`, hub.AuditUserRename},
		{"root", "PATCH", lan, `{"disabled":true}`, hub.AuditUserDisable},
		{"root", "PATCH", lan, `{"disabled":false}`, hub.AuditUserEnable},
		{"root", "POST", lan + "/password", nil, hub.AuditUserReset},
		{"xem", "PUT", "/api/v1/me/password", `{"current":"` + fixturePassword + `","new":"xem-moi-dai-du"}`, hub.AuditOwnPassword},
		{"root", "POST", "/api/v1/tokens", `{"name":"script","role":"viewer"}`, hub.AuditTokenCreate},
	}
	var want []string
	for _, s := range steps {
		if r := f.as(t, s.who, s.method, s.path, s.body); r.status >= 300 {
			t.Fatalf("%s %s: %d %v", s.method, s.path, r.status, r.body)
		}
		want = append(want, s.action)
	}
	// An unchanged field writes nothing.
	if r := f.as(t, "root", "PATCH", lan, `{"role":"technician","scope":"03244"}`); r.status != 200 {
		t.Fatal(r.status)
	}
	var tokenID int64
	_ = f.pool.QueryRow(ctx, `SELECT id FROM api_tokens WHERE name='script'`).Scan(&tokenID)
	if r := f.as(t, "root", "DELETE", fmt.Sprint("/api/v1/tokens/", tokenID), nil); r.status != 204 {
		t.Fatal(r.status)
	}
	want = append(want, hub.AuditTokenRevoke)
	if got := f.auditActions(t)[start:]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit actions\n got %v\nwant %v", got, want)
	}

	r := f.as(t, "root", "GET", fmt.Sprint("/api/v1/audit?limit=3&user=", f.ids["lan"]), nil)
	entries, _ := r.body["entries"].([]any)
	if r.status != 200 || len(entries) != 3 {
		t.Fatalf("audit of lan = %d %v", r.status, r.body)
	}
	newest := entries[0].(map[string]any)
	if newest["action"] != hub.AuditUserReset || newest["actor"] != "root" || newest["target"] != "lan" || newest["ip"] == "" || newest["at"] == "" {
		t.Errorf("newest entry about lan: %v", newest)
	}
	older := f.as(t, "root", "GET", fmt.Sprintf("/api/v1/audit?user=%d&before=%v", f.ids["lan"], entries[2].(map[string]any)["id"]), nil)
	if n := len(older.body["entries"].([]any)); n != 4 { // rename, scope, role, and the fixture's add
		t.Errorf("older entries about lan: %d, want 4", n)
	}
	for _, sql := range []string{`UPDATE audit_log SET actor='x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := f.pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", sql, err)
		}
	}
}
