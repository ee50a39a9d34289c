package alerts

import (
	"testing"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// GET /api/v1/alerts/notified says who was told of a commune's open
// alarm, with the rule's name for the address; technicians and admins
// read it, officers and viewers get 403, the settings stay admin-only.
func TestNotifiedRoute(t *testing.T) {
	t.Parallel()
	h := startWebHub(t, fastConfig())
	pool := h.svc.pool
	dumpQueue(t, pool)
	hook := newRecorder(t, `{}`)
	mb := newMailbox(t)
	email := addChannel(t, pool, "Thư trực ban", KindEmail, emailConfig(mb))
	wh := addChannel(t, pool, "hook", KindWebhook, `{"url":"`+hook.URL+`/in","secret":"0123456789abcdef"}`)
	addRule(t, pool, Rule{Name: "all", Recipients: []Recipient{{Channel: email, To: "a@xa.gov.vn", Name: "Nguyễn Văn A"}, {Channel: wh}}})
	h.publish(t, alarmSnapshot("active_unack"))
	hubtest.WaitFor(t, 15*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM alert_queue WHERE state='sent'`) == 2
	}, "both messages sent")

	for role, want := range map[hub.Role]int{hub.RoleAdmin: 200, hub.RoleTechnician: 200, hub.RoleOfficer: 403, hub.RoleViewer: 403, "": 401} {
		status, body := h.do(t, role, "GET", "/api/v1/alerts/notified?unit=03244", nil)
		if status != want {
			t.Errorf("%q: %d %v, want %d", role, status, body, want)
			continue
		}
		if status != 200 {
			continue
		}
		list, _ := body["notified"].(map[string]any)["alarm:9f2c41d07be35a10"].([]any)
		if len(list) != 2 {
			t.Fatalf("%s: notified %v", role, body)
		}
		byKind := map[string]map[string]any{}
		for _, x := range list {
			m := x.(map[string]any)
			byKind[m["kind"].(string)] = m
		}
		if m := byKind["email"]; m["name"] != "Nguyễn Văn A" || m["to"] != "a@xa.gov.vn" || m["channel"] != "Thư trực ban" || m["phase"] != "opened" || m["sent_at"] == nil {
			t.Errorf("%s: email %v", role, m)
		}
		if m := byKind["webhook"]; m["name"] != "" || m["to"] != "" || m["channel"] != "hook" {
			t.Errorf("%s: webhook %v", role, m)
		}
	}
	if status, body := h.do(t, hub.RoleTechnician, "GET", "/api/v1/alerts/notified?unit=032", nil); status != 400 || body["error"].(map[string]any)["field"] != "unit" {
		t.Errorf("bad unit: %d %v", status, body)
	}
	if status, _ := h.do(t, hub.RoleAdmin, "GET", "/api/v1/alerts/notified?unit=03245", nil); status != 200 {
		t.Errorf("another commune: %d", status)
	}
	if status, _ := h.do(t, hub.RoleTechnician, "GET", "/api/v1/alerts/sends?source=alarm:9f2c41d07be35a10%231", nil); status != 403 {
		t.Errorf("technician reading the queue: %d, want 403", status)
	}
	if status, _ := h.do(t, hub.RoleTechnician, "GET", "/api/v1/alerts/channels", nil); status != 403 {
		t.Errorf("technician reading the channels: %d, want 403", status)
	}
}
