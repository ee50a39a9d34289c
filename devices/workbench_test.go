package devices

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// Rules and maintenance windows are replaced and deleted through the API
// the rules page uses; a bad field is a 400 naming it, as on create.
func TestRuleAndWindowEditing(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	code, body := a.do(t, hub.RoleTechnician, "POST", "/api/v1/alarm-rules",
		`{"metric":"latency_ms","op":">","threshold":500,"clear_threshold":400,"for_s":30,"severity":"major"}`)
	if code != 201 {
		t.Fatalf("create rule = %d %v", code, body)
	}
	id := fmt.Sprintf("%.0f", body["id"])
	code, body = a.do(t, hub.RoleTechnician, "PUT", "/api/v1/alarm-rules/"+id,
		`{"id":999,"unit":"03244","kind":"camera","metric":"loss_pct","op":">","threshold":30,"clear_threshold":10,"for_s":120,"severity":"minor","enabled":false}`)
	if code != 200 || fmt.Sprint(body["id"]) != id {
		t.Fatalf("update rule = %d %v", code, body)
	}
	_, list := a.do(t, hub.RoleViewer, "GET", "/api/v1/alarm-rules", "")
	var got map[string]any
	for _, r := range list["rules"].([]any) {
		if m := r.(map[string]any); fmt.Sprintf("%.0f", m["id"]) == id {
			got = m
		}
	}
	if got == nil || got["metric"] != "loss_pct" || got["unit"] != "03244" || got["kind"] != "camera" || got["enabled"] != false || got["for_s"] != 120.0 {
		t.Errorf("rule after update: %v", got)
	}
	// The rule engine took the new rule (for_s 120 on cameras).
	a.svc.st.mu.Lock()
	found := false
	for _, r := range a.svc.st.rules {
		found = found || fmt.Sprint(r.ID) == id && r.Metric == "loss_pct"
	}
	a.svc.st.mu.Unlock()
	if !found {
		t.Error("edited rule not reloaded into the engine")
	}

	code, body = a.do(t, hub.RoleTechnician, "POST", "/api/v1/maintenance",
		`{"unit":"03244","starts_at":"2030-01-01T00:00:00Z","ends_at":"2030-01-01T02:00:00Z","reason":"thay switch"}`)
	if code != 201 {
		t.Fatalf("create window = %d %v", code, body)
	}
	wid := fmt.Sprintf("%.0f", body["id"])
	code, body = a.do(t, hub.RoleTechnician, "PUT", "/api/v1/maintenance/"+wid,
		`{"unit":"03244","device":"sw-2","starts_at":"2030-01-02T00:00:00Z","ends_at":"2030-01-02T04:00:00Z","reason":"đổi cáp"}`)
	if code != 200 || body["created_by"] != "technician" || body["device"] != "sw-2" {
		t.Fatalf("update window = %d %v", code, body)
	}

	bad := []struct{ method, path, body, field string }{
		{"PUT", "/api/v1/alarm-rules/" + id, `{"metric":"latency_ms","op":">","threshold":100,"clear_threshold":120,"severity":"major"}`, "clear_threshold"},
		{"PUT", "/api/v1/alarm-rules/" + id, `{"metric":"","op":">","threshold":100,"clear_threshold":80,"severity":"major"}`, "metric"},
		{"PUT", "/api/v1/alarm-rules/" + id, `{"metric":"x","op":">","threshold":1,"clear_threshold":0,"severity":"bad"}`, "severity"},
		{"PUT", "/api/v1/alarm-rules/" + id, `{"metric":"x","op":">","threshold":1,"clear_threshold":0,"severity":"major","device":"a b"}`, "device"},
		{"PUT", "/api/v1/alarm-rules/" + id, `{"metric":"x","op":">","threshold":1,"clear_threshold":0,"severity":"major","unit":"3244"}`, "unit"},
		{"PUT", "/api/v1/alarm-rules/x", `{}`, "id"},
		{"PUT", "/api/v1/maintenance/" + wid, `{"unit":"03244","starts_at":"2030-01-01T02:00:00Z","ends_at":"2030-01-01T00:00:00Z"}`, "ends_at"},
		{"PUT", "/api/v1/maintenance/" + wid, `{"unit":"03244","ends_at":"2030-01-01T00:00:00Z"}`, "starts_at"},
		{"DELETE", "/api/v1/maintenance/0", "", "id"},
	}
	for _, b := range bad {
		code, body := a.do(t, hub.RoleAdmin, b.method, b.path, b.body)
		e, _ := body["error"].(map[string]any)
		if code != 400 || e == nil || e["field"] != b.field {
			t.Errorf("%s %s %s = %d %v, want 400 naming %s", b.method, b.path, b.body, code, body, b.field)
		}
	}
	for _, r := range []hub.Role{hub.RoleViewer, hub.RoleOfficer} {
		if code, _ := a.do(t, r, "PUT", "/api/v1/alarm-rules/"+id, `{}`); code != 403 {
			t.Errorf("PUT rule as %s = %d", r, code)
		}
		if code, _ := a.do(t, r, "DELETE", "/api/v1/maintenance/"+wid, ""); code != 403 {
			t.Errorf("DELETE window as %s = %d", r, code)
		}
	}
	if code, _ := a.do(t, hub.RoleAdmin, "PUT", "/api/v1/alarm-rules/99999",
		`{"metric":"x","op":">","threshold":1,"clear_threshold":0,"severity":"major"}`); code != 404 {
		t.Errorf("PUT unknown rule = %d", code)
	}
	if code, _ := a.do(t, hub.RoleTechnician, "DELETE", "/api/v1/maintenance/"+wid, ""); code != 204 {
		t.Errorf("DELETE window = %d", code)
	}
	if code, _ := a.do(t, hub.RoleTechnician, "DELETE", "/api/v1/maintenance/"+wid, ""); code != 404 {
		t.Errorf("DELETE window twice = %d", code)
	}
	if _, l := a.do(t, hub.RoleViewer, "GET", "/api/v1/maintenance?unit=03244", ""); len(l["windows"].([]any)) != 0 {
		t.Errorf("windows after delete: %v", l)
	}
}

// The password_file line computes as mosquitto_passwd's does (a line it
// wrote, checked by recomputing it from its salt).
func TestMosquittoPasswordLine(t *testing.T) {
	const line = `user1:$7$101$EIr2qkFzzwRitbZZ$hn4+BTpenWSTcxVjFszwZHdMWO8dNSncTOA3oC4ywWmVh/NcNEve5o/Ug3YbUbOr3Q45na9139ZF8fSyyHfE3A==`
	salt, _ := base64.StdEncoding.DecodeString("EIr2qkFzzwRitbZZ")
	if got := mosquittoPasswordLine("user1", "secret123", salt); got != line {
		t.Errorf("got  %s\nwant %s", got, line)
	}
}

// The snippets a new credential comes with work as pasted: a private
// Mosquitto with the password_file and acl_file lines lets the device in
// with its password (and not with another), lets it publish under its own
// topics only, and the Telegraf output names the login and the device's
// telemetry topic.
func TestCredentialSnippetsWorkInMosquitto(t *testing.T) {
	t.Parallel()
	a := newAPIHarness(t, Config{AllowAnonymous: true})
	create := func(body string) (string, string, Snippets) {
		code, m := a.do(t, hub.RoleTechnician, "POST", "/api/v1/device-credentials", body)
		sn, _ := m["snippets"].(map[string]any)
		if code != 201 || sn == nil {
			t.Fatalf("create credential %s = %d %v", body, code, m)
		}
		s := func(k string) string { v, _ := sn[k].(string); return v }
		return m["credential"].(map[string]any)["username"].(string), m["password"].(string),
			Snippets{Broker: s("broker"), MosquittoPassword: s("mosquitto_password"), MosquittoACL: s("mosquitto_acl"), Telegraf: s("telegraf"), Publish: s("mosquitto_pub")}
	}
	devUser, devPass, dev := create(`{"unit":"03244","device":"ups-1"}`)
	comUser, comPass, com := create(`{"unit":"03244"}`)
	for _, want := range []string{`username = "` + devUser + `"`, `password = "` + devPass + `"`, `topic = "communehub/03244/ups-1/telemetry"`,
		`servers = ["tcp://` + dev.Broker + `"]`, `data_format = "json"`} {
		if !strings.Contains(dev.Telegraf, want) {
			t.Errorf("device Telegraf snippet lacks %s:\n%s", want, dev.Telegraf)
		}
	}
	if !strings.Contains(com.Telegraf, `topic = 'telegraf/03244/{{ .Tag "host" }}/{{ .Name }}'`) || !strings.Contains(com.Telegraf, comUser) {
		t.Errorf("commune Telegraf snippet:\n%s", com.Telegraf)
	}
	if !strings.Contains(dev.Publish, "-u '"+devUser+"' -P '"+devPass+"'") || !strings.Contains(dev.Publish, "communehub/03244/ups-1/status") {
		t.Errorf("mosquitto_pub line: %s", dev.Publish)
	}
	wantACL := "user " + devUser + "\ntopic readwrite communehub/03244/ups-1/#\ntopic readwrite telegraf/03244/ups-1/#\n"
	if dev.MosquittoACL != wantACL {
		t.Errorf("ACL:\n%s\nwant\n%s", dev.MosquittoACL, wantACL)
	}

	dir := t.TempDir()
	pw, acl := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	if err := os.WriteFile(pw, []byte(dev.MosquittoPassword+"\n"+com.MosquittoPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(acl, []byte(dev.MosquittoACL+"\n"+com.MosquittoACL), 0o600); err != nil {
		t.Fatal(err)
	}
	broker := hubtest.StartMosquitto(t, "allow_anonymous false\npassword_file "+pw+"\nacl_file "+acl)
	if _, err := mqttClient(t, broker, devUser, comPass); err == nil {
		t.Fatal("Mosquitto let the device in with another login's password")
	}
	watcher, err := mqttClient(t, broker, comUser, comPass)
	if err != nil {
		t.Fatalf("commune login refused: %v", err)
	}
	got := make(chan string, 8)
	if tok := watcher.Subscribe("communehub/03244/#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	device, err := mqttClient(t, broker, devUser, devPass)
	if err != nil {
		t.Fatalf("device login refused: %v", err)
	}
	// Outside its ACL first: Mosquitto drops it (a positive PUBACK under 3.1.1), so it never
	// reaches the watcher, which then gets the allowed one.
	for _, topic := range []string{"communehub/03244/router-1/status", "communehub/03244/ups-1/status"} {
		if err := publish(t, device, topic, "online"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case topic := <-got:
		if topic != "communehub/03244/ups-1/status" {
			t.Errorf("watcher got %s first: the device published outside its ACL", topic)
		}
	case <-time.After(hubtest.Timeout(5 * time.Second)):
		t.Fatal("the device's own status never arrived")
	}
}
