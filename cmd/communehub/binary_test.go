package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// binHub is the real binary started by a test, with the addresses it got.
type binHub struct {
	*hubtest.Process
	Base     string // http://127.0.0.1:port
	Addr     string
	MQTTAddr string
}

// startBinary runs the communehub binary on free ports with dbURL and the
// extra environment ("KEY=value"); wrap, when set, runs it under a shell
// command (a lower file-descriptor limit). It does not wait for anything.
func startBinary(t *testing.T, dbURL string, extra []string, wrap ...string) *binHub {
	t.Helper()
	bin := hubtest.Build(t, "./cmd/communehub")
	h := &binHub{
		Addr:     fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
		MQTTAddr: fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
	}
	h.Base = "http://" + h.Addr
	env := append([]string{
		"COMMUNEHUB_ADDR=" + h.Addr,
		"COMMUNEHUB_DATABASE_URL=" + dbURL,
		"COMMUNEHUB_MQTT_LISTEN=" + h.MQTTAddr,
		"COMMUNEHUB_DATA_DIR=" + t.TempDir(),
		"COMMUNEHUB_LOG_FORMAT=json",
	}, extra...)
	if len(wrap) > 0 {
		h.Process = hubtest.Start(t, wrap[0], env, append(wrap[1:], bin)...)
	} else {
		h.Process = hubtest.Start(t, bin, env)
	}
	return h
}

// httpGet returns the status and body of a GET with the given headers
// (name, value pairs).
func httpGet(t *testing.T, u string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: hubtest.Timeout(5 * time.Second)}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// proxiedDB returns a fresh database's URL through a proxy the test can
// cut and restore, and the proxy (cut when cut is true).
func proxiedDB(t *testing.T, cut bool) (string, *hubtest.Proxy) {
	t.Helper()
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px := hubtest.NewProxy(t, u.Host, cut)
	u.Host = px.Addr
	return u.String(), px
}

// A hub whose database does not answer at start opens HTTP at once: it is
// alive, not ready (naming the database), shows pages a "database
// unreachable" page and the API a JSON 503; when the database answers it
// starts the rest and serves the whole app on the same port.
func TestBinaryDatabaseDownAtStart(t *testing.T) {
	t.Parallel()
	dbURL, px := proxiedDB(t, true)
	h := startBinary(t, dbURL, nil)
	start := time.Now()
	h.WaitHTTP(t, 20*time.Second, h.Base+"/healthz", 200)
	t.Logf("healthz 200 %v after start, database unreachable", time.Since(start).Round(time.Millisecond))

	code, body := httpGet(t, h.Base+"/readyz")
	var ready struct {
		Down map[string]string `json:"down"`
	}
	if err := json.Unmarshal([]byte(body), &ready); code != 503 || err != nil || ready.Down["database"] == "" {
		t.Errorf("readyz while the database is down = %d %s; want 503 with down.database", code, body)
	}
	code, body = httpGet(t, h.Base+"/meetings", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if code != 503 || !strings.Contains(body, "Không kết nối được cơ sở dữ liệu") || !strings.Contains(body, "Database unreachable") {
		t.Errorf("page while the database is down = %d %.200q; want 503 and the unreachable page (vi, en)", code, body)
	}
	code, body = httpGet(t, h.Base+"/api/v1/me")
	var apiErr struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &apiErr); code != 503 || err != nil || apiErr.Error.Code != "unavailable" || !strings.Contains(apiErr.Error.Message, "database") {
		t.Errorf("API while the database is down = %d %s; want 503 JSON unavailable naming the database", code, body)
	}

	px.Restore(t)
	restored := time.Now()
	h.WaitHTTP(t, 60*time.Second, h.Base+"/readyz", 200)
	t.Logf("readyz 200 %v after the database answered", time.Since(restored).Round(time.Millisecond))
	if code, body := httpGet(t, h.Base+"/api/v1/me"); code != 401 {
		t.Errorf("API after the switch = %d %s; want 401 from the real route", code, body)
	}
	if code, _ := httpGet(t, h.Base+"/login"); code != 200 {
		t.Errorf("login page after the switch = %d", code)
	}
	if code := h.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// SIGTERM while the hub still waits for its database ends it cleanly.
func TestBinaryStopWhileWaitingForDatabase(t *testing.T) {
	t.Parallel()
	dbURL, _ := proxiedDB(t, true)
	h := startBinary(t, dbURL, nil)
	h.WaitHTTP(t, 20*time.Second, h.Base+"/healthz", 200)
	if code := h.Stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM while waiting for the database:\n%s", code, h.Stderr())
	}
}
