package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// syncBuffer is a bytes.Buffer safe for the hub's goroutines to write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testProcess is a whole hub started in-process through Main, as the binary runs.
type testProcess struct {
	Addr   string
	Base   string       // http://Addr, or https://Addr with COMMUNEHUB_TLS_SELF_SIGNED
	Client *http.Client // trusts the hub's self-signed certificate when it has one
	DBURL  string
	Stdout *syncBuffer
	Stderr *syncBuffer
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
		Stdout: &syncBuffer{}, Stderr: &syncBuffer{},
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
	// ready, which took 22 s of a 2-core machine under load with -race.
	deadline := time.Now().Add(hubtest.Timeout(2 * time.Minute))
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
			t.Fatalf("hub not ready within %v:\n%s", hubtest.Timeout(2*time.Minute), p.Stderr)
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
