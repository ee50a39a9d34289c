package hub_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/communehub/communehub/hub"
)

// The stand-in names what it waits for, and says "starting" once only the
// wiring is left; pages get HTML, the API and JSON clients JSON.
func TestUnavailableStandIn(t *testing.T) {
	t.Parallel()
	var dbUp atomic.Bool
	ready := hub.NewReadiness()
	ready.Add("database", func(context.Context) error {
		if !dbUp.Load() {
			return errors.New("unreachable")
		}
		return nil
	})
	app := hub.NewApp(hub.AppOptions{})
	hub.MountUnavailable(app, hub.Ops{Ready: ready}, func() string {
		if dbUp.Load() {
			return ""
		}
		return "database"
	})
	get := func(path, accept string) (int, string, string) {
		req := httptest.NewRequest("GET", path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	for _, tc := range []struct {
		path, accept string
		dbUp         bool
		status       int
		ctype, want  string
	}{
		{"/healthz", "", false, 200, "json", `"ok"`},
		{"/readyz", "", false, 503, "json", `"database":"unreachable"`},
		{"/", "text/html", false, 503, "html", "Không kết nối được cơ sở dữ liệu"},
		{"/displays", "", false, 503, "html", "Database unreachable"},
		{"/api/v1/me", "", false, 503, "json", `database unreachable`},
		{"/ws/display", "", false, 503, "json", `"unavailable"`},
		{"/meetings", "application/json", false, 503, "json", `"unavailable"`},
		{"/", "text/html", true, 503, "html", "CommuneHub đang khởi động"},
		{"/api/v1/me", "", true, 503, "json", "the hub is starting"},
		{"/readyz", "", true, 200, "json", `"ready"`},
		{"/static/hub/i18n.js", "", false, 200, "javascript", "translator"},
	} {
		dbUp.Store(tc.dbUp)
		status, ctype, body := get(tc.path, tc.accept)
		if status != tc.status || !strings.Contains(ctype, tc.ctype) || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s (Accept %q, database up %v) = %d %s %.120q; want %d %s containing %q",
				tc.path, tc.accept, tc.dbUp, status, ctype, body, tc.status, tc.ctype, tc.want)
		}
	}
}
