package backlog

import (
	"testing"

	"github.com/communehub/communehub/hub"
)

// Every backlog route that takes a unit refuses one that is no current
// commune or province the same way: 404 naming unit when it is in the URL,
// 422 naming unit when it is in a body.
func TestUnknownUnitRefusedOnEveryRoute(t *testing.T) {
	h := newTestHub(t, newClock(vnt(2026, 3, 16, 10, 0)))
	cases := []struct {
		method, path string
		body         map[string]any
		code         int
	}{
		{"GET", "/api/v1/kpis?unit=99999", nil, 404},
		{"GET", "/api/v1/backlog?unit=99999", nil, 404},
		{"GET", "/api/v1/agencies?unit=99999", nil, 404},
		{"GET", "/api/v1/dossiers?unit=99999", nil, 404},
		{"GET", "/api/v1/documents/incoming?unit=99999", nil, 404},
		{"GET", "/api/v1/documents/outgoing?unit=99999", nil, 404},
		{"PUT", "/api/v1/agencies/AG-1", map[string]any{"name": "UBND", "unit": "99999"}, 422},
		{"POST", "/api/v1/documents/incoming", map[string]any{"unit": "99999", "subject": "x", "urgency": "thuong",
			"secrecy": "thuong", "medium": "paper"}, 422},
		{"POST", "/api/v1/documents/outgoing", map[string]any{"unit": "99999", "suffix": "UBND", "subject": "x",
			"signed_personal": false, "signed_org": false}, 422},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var body []byte
			if c.body != nil {
				body = jsonBody(t, c.body)
			}
			code, m := h.do(t, hub.RoleOfficer, c.method, c.path, body, nil)
			if code != c.code || errField(m) != "unit" {
				t.Fatalf("%s %s: %d %v, want %d naming unit", c.method, c.path, code, m, c.code)
			}
		})
	}
	// A known unit still answers.
	if code, m := h.do(t, hub.RoleOfficer, "GET", "/api/v1/agencies?unit=03244", nil, nil); code != 200 {
		t.Fatalf("known unit: %d %v", code, m)
	}
}
