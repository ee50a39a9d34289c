package devices

import (
	"testing"

	"github.com/communehub/communehub/hub"
)

// Every devices route that takes a unit refuses a well-formed code that is
// no current commune the way the backlog does: 404 naming unit in the URL,
// 422 naming unit in a body.
func TestUnknownUnitRefusedOnEveryRoute(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	cases := []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/api/v1/devices?unit=99999", "", 404},
		{"GET", "/api/v1/devices/snapshot?unit=99999", "", 404},
		{"GET", "/api/v1/devices/99999/router-1", "", 404},
		{"GET", "/api/v1/devices/99999/router-1/telemetry?metric=latency_ms", "", 404},
		{"POST", "/api/v1/devices/99999/router-1/adopt", "", 404},
		{"POST", "/api/v1/devices/99999/router-1/ignore", "", 404},
		{"GET", "/api/v1/incidents?unit=99999", "", 404},
		{"GET", "/api/v1/alarms?unit=99999", "", 404},
		{"GET", "/api/v1/maintenance?unit=99999", "", 404},
		{"GET", "/api/v1/device-credentials?unit=99999", "", 404},
		{"POST", "/api/v1/alarm-rules", `{"unit":"99999","metric":"latency_ms","op":">","threshold":10,"clear_threshold":5,"severity":"minor"}`, 422},
		{"POST", "/api/v1/maintenance", `{"unit":"99999","starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-01-01T01:00:00Z"}`, 422},
		{"POST", "/api/v1/device-credentials", `{"unit":"99999"}`, 422},
	}
	for _, c := range cases {
		code, m := a.do(t, hub.RoleAdmin, c.method, c.path, c.body)
		e, _ := m["error"].(map[string]any)
		if code != c.code || e["field"] != "unit" {
			t.Errorf("%s %s: %d %v, want %d naming unit", c.method, c.path, code, m, c.code)
		}
	}
	if code, m := a.do(t, hub.RoleAdmin, "GET", "/api/v1/devices?unit=03244", ""); code != 200 {
		t.Fatalf("known unit: %d %v", code, m)
	}
}
