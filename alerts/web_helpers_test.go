package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
)

// webHub is the kernel with alerts mounted, served on a free local port,
// with one API token per role and an admin user for a browser.
type webHub struct {
	*running
	app    *fiber.App
	base   string
	tokens map[hub.Role]string
}

func startWebHub(t *testing.T, cfg Config) *webHub {
	t.Helper()
	pool := newPool(t)
	r := startAlerts(t, pool, cfg, nil, nil, nil)
	log := slog.New(slog.DiscardHandler)
	auth := hub.NewAuth(pool, hub.AuthConfig{}, log)
	core := &hub.Core{Pool: pool, Bus: r.bus, Topics: r.topics, Auth: auth, Units: hub.NewUnits(pool), Metrics: r.reg,
		Sockets: hub.NewSockets(), Ready: hub.NewReadiness(), Logger: log}
	app := hub.NewApp(hub.AppOptions{Logger: log, Metrics: r.reg})
	r.svc.Mount(core.Routes(app, core.Mount(app)))
	h := &webHub{running: r, app: app, tokens: map[hub.Role]string{}}
	ctx := context.Background()
	for _, role := range []hub.Role{hub.RoleAdmin, hub.RoleOfficer, hub.RoleTechnician, hub.RoleViewer} {
		_, tok, err := auth.CreateToken(ctx, "t-"+string(role), role, "")
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[role] = tok
	}
	if _, err := auth.CreateUser(ctx, "quantri", hub.RoleAdmin, "quan-tri-mat-khau"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	h.base = "http://" + ln.Addr().String()
	return h
}

// do sends a request as role ("" for none) and decodes the JSON answer.
func (h *webHub) do(t *testing.T, role hub.Role, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+h.tokens[role])
	}
	resp, err := h.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}
