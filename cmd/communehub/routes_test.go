package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/gofiber/fiber/v2"
)

// TestEveryAPIRouteNeedsAuth walks every route the wired hub registers under
// /api/v1 and checks that, without credentials, each one answers 401 —
// except login, the one public route.
func TestEveryAPIRouteNeedsAuth(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t)
	cfg, _, err := ParseConfig(nil, env(map[string]string{
		"COMMUNEHUB_ADDR":         fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
		"COMMUNEHUB_DATABASE_URL": dbURL,
		"COMMUNEHUB_MQTT_LISTEN":  fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t)),
		"COMMUNEHUB_DATA_DIR":     t.TempDir(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	routes := make(chan []fiber.Route, 1)
	cfg.appHook = func(app *fiber.App) { routes <- app.GetRoutes(true) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var list []fiber.Route
	select {
	case list = <-routes:
	case err := <-done:
		t.Fatalf("Run ended early: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("hub not wired within 60s")
	}
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + cfg.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, "hub listening")
	checked := 0
	for _, r := range list {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		if r.Path == "/api/v1/login" && r.Method == "POST" {
			continue
		}
		path := r.Path
		for _, p := range r.Params {
			path = strings.Replace(path, ":"+p, "1", 1)
		}
		path = strings.ReplaceAll(path, "*", "x")
		req, _ := http.NewRequest(r.Method, "http://"+cfg.Addr+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s %s without credentials = %d, want 401", r.Method, r.Path, resp.StatusCode)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d API routes found", checked)
	}
	t.Logf("%d API routes checked", checked)
}
