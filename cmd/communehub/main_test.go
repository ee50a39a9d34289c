package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// testProcess is a whole hub started in-process through Main, as the binary runs.
type testProcess struct {
	Addr   string
	Base   string       // http://Addr, or https://Addr with COMMUNEHUB_TLS_SELF_SIGNED
	Client *http.Client // trusts the hub's self-signed certificate when it has one
	DBURL  string
	Stdout *hubtest.SyncBuffer
	Stderr *hubtest.SyncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startHub runs Main on free ports with a fresh database and the given extra
// environment; it waits for /readyz. Stop it with stop (or at cleanup).
func startHub(t *testing.T, dbURL string, extraEnv map[string]string, args ...string) *testProcess {
	t.Helper()
	p := &testProcess{
		Addr:   fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
		DBURL:  dbURL,
		Stdout: &hubtest.SyncBuffer{}, Stderr: &hubtest.SyncBuffer{},
		done: make(chan int, 1),
	}
	vars := map[string]string{
		"COMMUNEHUB_ADDR":         p.Addr,
		"COMMUNEHUB_DATABASE_URL": dbURL,
		"COMMUNEHUB_MQTT_LISTEN":  fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
		"COMMUNEHUB_DATA_DIR":     t.TempDir(),
		"COMMUNEHUB_LOG_FORMAT":   "json",
		"COMMUNEHUB_LOG_LEVEL":    "debug",
	}
	for k, v := range extraEnv {
		vars[k] = v
	}
	p.Base, p.Client = "http://"+p.Addr, http.DefaultClient
	probe := http.DefaultClient
	if vars["COMMUNEHUB_TLS_SELF_SIGNED"] == "true" {
		// Until the hub has made its certificate there is nothing to
		// trust; readiness is probed without checking it.
		p.Base = "https://" + p.Addr
		probe = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- Main(ctx, args, env(vars), strings.NewReader(""), p.Stdout, p.Stderr) }()
	t.Cleanup(func() { p.stop(t) })
	// Generous: with --demo the hub seeds a year of dossiers before it is
	// ready, which took 15–30 s of a 2-core machine under load with -race.
	ready := hubtest.Timeout(2 * time.Minute)
	deadline := time.Now().Add(ready)
	for {
		resp, err := probe.Get(p.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if probe != http.DefaultClient {
					p.Client = trustingClient(t, filepath.Join(vars["COMMUNEHUB_DATA_DIR"], "tls", "self-signed.pem"))
				}
				return p
			}
		}
		select {
		case code := <-p.done:
			p.done <- code
			t.Fatalf("hub exited with %d before ready:\n%s", code, p.Stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub not ready within %v:\n%s", ready, p.Stderr)
		}
		time.Sleep(50 * time.Millisecond) // sleep: the polling interval
	}
}

// stop cancels the hub's context (what SIGTERM does) and returns its exit code.
func (p *testProcess) stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.done:
		p.done <- code
		return code
	case <-time.After(hubtest.Timeout(10 * time.Second)):
		t.Fatalf("hub did not stop within 10s:\n%s", p.Stderr)
		return -1
	}
}

func (p *testProcess) get(t *testing.T, path string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.Base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// login posts a username and password to /api/v1/login and returns the
// response, its body read and closed (status, Retry-After, the cookie).
func (p *testProcess) login(t *testing.T, user, password string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := p.Client.Post(p.Base+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestServeReadyAndGracefulStop(t *testing.T) {
	hubtest.SkipShort(t, "seeds the demo data")
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	p := startHub(t, dbURL, nil, "--demo")
	if code, body := p.get(t, "/healthz"); code != 200 {
		t.Errorf("healthz = %d %s", code, body)
	}
	if code, body := p.get(t, "/readyz"); code != 200 || !strings.Contains(body, "database") {
		t.Errorf("readyz = %d %s", code, body)
	}
	if code, body := p.get(t, "/metrics"); code != 200 || !strings.Contains(body, "communehub_bus_published_total") {
		t.Errorf("metrics = %d", code)
	}
	if !strings.Contains(p.Stdout.String(), "user: admin  password: ") {
		t.Errorf("demo admin password not printed: %q", p.Stdout.String())
	}
	if code, _ := p.get(t, "/api/v1/units?parent=11"); code != 401 {
		t.Errorf("unauthenticated API = %d", code)
	}
	start := time.Now()
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.Stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if !strings.Contains(p.Stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no orderly stop logged:\n%s", p.Stderr)
	}
}

// The CLI creates users and tokens against the same database the hub uses.
func TestCLIUsersAndTokens(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	vars := env(map[string]string{"COMMUNEHUB_DATABASE_URL": dbURL, "COMMUNEHUB_LOG_FORMAT": "json", "COMMUNEHUB_DATA_DIR": t.TempDir()})
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"users", "add", "lan", "--role", "officer"}, vars, strings.NewReader("s3cret-password\n"), &out, &errb); code != 0 {
		t.Fatalf("users add: %d %s", code, errb.String())
	}
	if code := Main(context.Background(), []string{"users", "add", "lan", "--role", "officer"}, vars, strings.NewReader("s3cret-password\n"), &out, &errb); code != 1 {
		t.Errorf("duplicate user: exit %d", code)
	}
	out.Reset()
	if code := Main(context.Background(), []string{"tokens", "create", "--name", "one-stop", "--role", "viewer"}, vars, nil, &out, &errb); code != 0 {
		t.Fatalf("tokens create: %d %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	token := lines[len(lines)-1]
	if !strings.HasPrefix(token, "chub_") {
		t.Fatalf("token output %q", out.String())
	}
	p := startHub(t, dbURL, nil)
	if code, body := p.get(t, "/api/v1/units?parent=11", "Authorization", "Bearer "+token); code != 200 || strings.Count(body, `"code"`) != 45 {
		t.Errorf("units with CLI token = %d, %d units", code, strings.Count(body, `"code"`))
	}
}

// users passwd, disable and enable work through the CLI against a running
// hub's database: passwd and disable end the user's sessions, a disabled
// user cannot log in, and enabling does not revive the old sessions.
func TestCLIUsersPasswdDisableEnable(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	vars := env(map[string]string{"COMMUNEHUB_DATABASE_URL": dbURL, "COMMUNEHUB_LOG_FORMAT": "json", "COMMUNEHUB_DATA_DIR": t.TempDir()})
	cli := func(stdin string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, vars, strings.NewReader(stdin), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := cli("first-password\n", "users", "add", "lan", "--role", "officer"); code != 0 {
		t.Fatalf("users add: %d %s", code, out)
	}
	p := startHub(t, dbURL, nil)
	login := func(password string) (int, string) {
		t.Helper()
		resp := p.login(t, "lan", password)
		for _, c := range resp.Cookies() {
			if c.Name == "communehub_session" {
				return resp.StatusCode, c.Name + "=" + c.Value
			}
		}
		return resp.StatusCode, ""
	}
	me := func(cookie string) int {
		code, _ := p.get(t, "/api/v1/me", "Cookie", cookie)
		return code
	}
	code, s1 := login("first-password")
	if code != 200 || me(s1) != 200 {
		t.Fatalf("login = %d, /me = %d", code, me(s1))
	}
	if code, out := cli("second-password\n", "users", "passwd", "lan"); code != 0 || !strings.Contains(out, "sessions ended") {
		t.Fatalf("users passwd: %d %s", code, out)
	}
	if me(s1) != 401 {
		t.Error("a session outlived the password change")
	}
	if code, _ := login("first-password"); code != 401 {
		t.Errorf("old password after passwd = %d", code)
	}
	code, s2 := login("second-password")
	if code != 200 {
		t.Fatalf("new password = %d", code)
	}
	if code, out := cli("", "users", "disable", "lan"); code != 0 {
		t.Fatalf("users disable: %d %s", code, out)
	}
	if me(s2) != 401 {
		t.Error("a session outlived disabling the user")
	}
	if code, _ := login("second-password"); code != 403 {
		t.Errorf("disabled user's login = %d, want 403", code)
	}
	if code, out := cli("", "users", "enable", "lan"); code != 0 {
		t.Fatalf("users enable: %d %s", code, out)
	}
	if me(s2) != 401 {
		t.Error("enabling revived an old session")
	}
	if code, _ := login("second-password"); code != 200 {
		t.Errorf("enabled user's login = %d", code)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
	}{
		{"x-long-password\n", []string{"users", "passwd", "nobody"}, 1},
		{"short\n", []string{"users", "passwd", "lan"}, 1},
		{"", []string{"users", "disable", "nobody"}, 1},
		{"", []string{"users", "passwd"}, 2},
		{"", []string{"users", "disable", "lan", "extra"}, 2},
		{"", []string{"users", "rename", "lan"}, 2},
	} {
		if code, out := cli(tc.stdin, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d: %s", tc.args, code, tc.code, out)
		}
	}
}

// The demo's start-up hint for a lost admin password names a command that
// works.
func TestDemoResetHintWorks(t *testing.T) {
	t.Parallel()
	pool, dbURL := hubtest.NewDB(t, migrationSets()...)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	ctx := context.Background()
	if err := seedDemo(ctx, auth, log, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := seedDemo(ctx, auth, log, io.Discard); err != nil { // admin exists: the hint
		t.Fatal(err)
	}
	_, hint, ok := strings.Cut(logs.String(), "| communehub ")
	if !ok {
		t.Fatalf("no reset command in the log: %s", logs.String())
	}
	hint, _, _ = strings.Cut(hint, ")")
	args := strings.Fields(hint)
	vars := env(map[string]string{"COMMUNEHUB_DATABASE_URL": dbURL, "COMMUNEHUB_LOG_FORMAT": "json", "COMMUNEHUB_DATA_DIR": t.TempDir()})
	var out, errb bytes.Buffer
	if code := Main(ctx, args, vars, strings.NewReader("a-new-admin-password\n"), &out, &errb); code != 0 {
		t.Fatalf("the hint %q fails: exit %d %s", hint, code, errb.String())
	}
	if _, _, err := auth.Login(ctx, "admin", "a-new-admin-password"); err != nil {
		t.Errorf("admin cannot log in with the password set by the hint's command: %v", err)
	}
}

// The login throttle's thresholds are settings: with
// COMMUNEHUB_LOGIN_ACCOUNT_FAILURES=2 the third attempt of an account is
// locked (429, Retry-After), and another account from the same address
// still logs in.
func TestLoginThrottleSettings(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	vars := env(map[string]string{"COMMUNEHUB_DATABASE_URL": dbURL, "COMMUNEHUB_LOG_FORMAT": "json", "COMMUNEHUB_DATA_DIR": t.TempDir()})
	for _, name := range []string{"lan", "minh"} {
		var out bytes.Buffer
		if code := Main(context.Background(), []string{"users", "add", name, "--role", "officer"}, vars, strings.NewReader("a-long-password\n"), &out, &out); code != 0 {
			t.Fatalf("users add %s: %d %s", name, code, out.String())
		}
	}
	p := startHub(t, dbURL, map[string]string{"COMMUNEHUB_LOGIN_ACCOUNT_FAILURES": "2"})
	login := func(user, password string) (int, string) {
		t.Helper()
		resp := p.login(t, user, password)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range 2 {
		if code, _ := login("lan", "wrong"); code != 401 {
			t.Fatalf("failure %d answered %d, want 401", i+1, code)
		}
	}
	if code, retry := login("lan", "a-long-password"); code != 429 || retry == "" {
		t.Fatalf("after 2 failures with a threshold of 2: %d Retry-After %q, want 429 with Retry-After", code, retry)
	}
	if code, _ := login("minh", "a-long-password"); code != 200 {
		t.Fatalf("another account from the same address: %d, want 200", code)
	}
}
