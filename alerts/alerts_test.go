package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

func alarmSnapshot(state string) string {
	return `{"unit":"03244","incidents":[],"alarms":[{"id":"9f2c41d07be35a10","device":"router","metric":"latency_ms","severity":"critical","state":"` +
		state + `","since":"2026-11-27T09:10:00Z","value":180.5}]}`
}

// fakeAcker records the alarms acknowledged through it.
type fakeAcker struct {
	mu  sync.Mutex
	ids []string
}

func (f *fakeAcker) AckAlarm(_ context.Context, id, by, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.ids {
		if x == id {
			return hub.Errorf(hub.EConflict, "acknowledged already")
		}
	}
	f.ids = append(f.ids, id+" "+by)
	return nil
}

// Every channel sends what its API expects, and a channel outage (SMTP
// 451, webhook 503, Telegram 429) delays the message and loses none; a
// snapshot sent again queues nothing more.
func TestChannelsSendAsTheirAPIsExpectAndRetry(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	dumpQueue(t, pool)
	mb := newMailbox(t)
	mb.fail = 2
	hook := newRecorder(t, `{}`)
	hook.script = []int{503}
	tg := newRecorder(t, `{"ok":true,"result":{"message_id":1}}`)
	tg.script = []int{429}
	zalo := newRecorder(t, `{"error":0,"message":"Success","data":{"message_id":"x"}}`)
	email := addChannel(t, pool, "mail", KindEmail, emailConfig(mb))
	wh := addChannel(t, pool, "hook", KindWebhook, `{"url":"`+hook.URL+`/in","secret":"0123456789abcdef"}`)
	tel := addChannel(t, pool, "tg", KindTelegram, `{"token":"123456:ABC-def","base_url":"`+tg.URL+`"}`)
	za := addChannel(t, pool, "zalo", KindZalo, `{"access_token":"oa-token","base_url":"`+zalo.URL+`"}`)
	addRule(t, pool, Rule{Name: "all", Recipients: []Recipient{{Channel: email, To: "a@xa.gov.vn"}, {Channel: wh}, {Channel: tel, To: "-100200"}, {Channel: za, To: "8412345"}}})
	r := startAlerts(t, pool, fastConfig(), nil, nil, nil)
	r.publish(t, alarmSnapshot("active_unack"))
	r.publish(t, alarmSnapshot("active_unack")) // again: nothing more
	hubtest.WaitFor(t, 15*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM alert_queue WHERE state='sent'`) == 4
	}, "the four messages sent after the outages")
	if n := len(mb.messages()); n != 1 {
		t.Fatalf("%d emails", n)
	}
	m := mb.messages()[0]
	if m.User != "user" || m.From != "hub@xa.gov.vn" || !strings.Contains(m.Subject, "Cảnh báo latency_ms trên router") ||
		!strings.Contains(m.Body, "Alarm latency_ms on router = 180.5") || !strings.Contains(m.Body, "http://hub.test/alerts/ack/") {
		t.Fatalf("email %+v", m)
	}
	if reqs := hook.requests(); len(reqs) != 2 || reqs[0].Header.Get(WebhookIDHeader) != reqs[1].Header.Get(WebhookIDHeader) {
		t.Fatalf("webhook calls %+v", reqs)
	}
	tr := tg.requests()
	if len(tr) != 2 || tr[1].Path != "/bot123456:ABC-def/sendMessage" {
		t.Fatalf("telegram calls %+v", tr)
	}
	var tm struct {
		ChatID string `json:"chat_id"`
		Text   string `json:"text"`
	}
	if err := json.Unmarshal(tr[1].Body, &tm); err != nil || tm.ChatID != "-100200" || !strings.Contains(tm.Text, "router") {
		t.Fatalf("telegram body %s", tr[1].Body)
	}
	zr := zalo.requests()
	if len(zr) != 1 || zr[0].Path != "/v3.0/oa/message/cs" || zr[0].Header.Get("access_token") != "oa-token" ||
		!strings.Contains(string(zr[0].Body), `"recipient":{"user_id":"8412345"}`) {
		t.Fatalf("zalo calls %+v", zr)
	}
	for kind, want := range map[string]float64{"email": 2, "webhook": 1, "telegram": 1, "zalo": 0} {
		if got := testutil.ToFloat64(r.svc.m.retried.WithLabelValues(kind)); got != want {
			t.Errorf("retried{%s} = %v, want %v", kind, got, want)
		}
		if got := testutil.ToFloat64(r.svc.m.sent.WithLabelValues(kind)); got != 1 {
			t.Errorf("sent{%s} = %v", kind, got)
		}
	}
}

// A signed link acknowledges the alarm once, through the Acker, and stops
// its escalation; a second use, a forged and an expired link are refused.
func TestAckLinkAcknowledgesOnceAndStopsEscalation(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	dumpQueue(t, pool)
	hook := newRecorder(t, `{}`)
	wh := addChannel(t, pool, "hook", KindWebhook, `{"url":"`+hook.URL+`","secret":"0123456789abcdef"}`)
	addRule(t, pool, Rule{Name: "r", EscalateAfter: 1, Recipients: []Recipient{{Channel: wh}}})
	ack := &fakeAcker{}
	r := startAlerts(t, pool, fastConfig(), ack, nil, nil)
	r.publish(t, alarmSnapshot("active_unack"))
	hubtest.WaitFor(t, 10*time.Second, func() bool { return len(hook.requests()) == 1 }, "the opened webhook")
	u := fmt.Sprint(webhookEvents(t, hook)[0]["ack_url"])
	token := u[strings.LastIndex(u, "/")+1:]
	ctx := context.Background()
	if _, err := r.svc.ackLink(ctx, token[:len(token)-2]+"AA"); hub.ErrorCode(err) != hub.EInvalid {
		t.Fatalf("forged link: %v", err)
	}
	if by, err := r.svc.ackLink(ctx, token); err != nil || by != "link:" {
		t.Fatalf("ack: %q %v", by, err)
	}
	if _, err := r.svc.ackLink(ctx, token); hub.ErrorCode(err) != hub.EConflict {
		t.Fatalf("second use: %v", err)
	}
	if len(ack.ids) != 1 || ack.ids[0] != "9f2c41d07be35a10 link:" {
		t.Fatalf("acker got %v", ack.ids)
	}
	old := signLink(r.svc.key, "alarm:9f2c41d07be35a10#1", "", time.Now().Add(-time.Second))
	if _, err := r.svc.ackLink(ctx, old); hub.ErrorCode(err) != hub.EForbidden {
		t.Fatalf("expired link: %v", err)
	}
	time.Sleep(hubtest.Timeout(1500 * time.Millisecond)) // sleep: past the escalation timeout, proving none comes
	if n := len(hook.requests()); n != 1 {
		t.Fatalf("%d webhook calls after the ack, want no escalation", n)
	}
}

// Quiet hours hold what is not critical until they end, in Vietnam time.
func TestQuietHours(t *testing.T) {
	r := Rule{QuietFrom: "22:00", QuietTo: "06:00"}
	at := func(s string) time.Time { v, _ := time.ParseInLocation("2006-01-02 15:04", s, vietnam); return v }
	for _, c := range []struct{ now, want string }{
		{"2026-03-01 23:30", "2026-03-02 06:00"}, {"2026-03-02 05:59", "2026-03-02 06:00"},
		{"2026-03-02 06:00", ""}, {"2026-03-02 12:00", ""}, {"2026-03-01 22:00", "2026-03-02 06:00"},
	} {
		got := r.quietUntil(at(c.now).UTC())
		if (c.want == "" && !got.IsZero()) || (c.want != "" && !got.Equal(at(c.want))) {
			t.Errorf("at %s: quiet until %v, want %q", c.now, got, c.want)
		}
	}
	lunch := Rule{QuietFrom: "11:30", QuietTo: "13:30"}
	if got := lunch.quietUntil(at("2026-03-02 12:00")); !got.Equal(at("2026-03-02 13:30")) {
		t.Errorf("lunch: %v", got)
	}
}

// A warning in quiet hours is queued for their end; a critical one goes.
func TestQuietHoursPassCritical(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	dumpQueue(t, pool)
	hook := newRecorder(t, `{}`)
	wh := addChannel(t, pool, "hook", KindWebhook, `{"url":"`+hook.URL+`","secret":"0123456789abcdef"}`)
	now := time.Now().In(vietnam)
	from, to := now.Add(-time.Hour).Format("15:04"), now.Add(2*time.Hour).Format("15:04")
	addRule(t, pool, Rule{Name: "quiet", QuietFrom: from, QuietTo: to, Recipients: []Recipient{{Channel: wh}}})
	r := startAlerts(t, pool, fastConfig(), nil, nil, nil)
	r.publish(t, `{"unit":"03244","incidents":[{"id":"i1","kind":"device_down","title":"PC","root_device":"pc","since":"2026-11-27T09:10:00Z"},
		{"id":"i2","kind":"power_cut","title":"Mất điện","root_device":"ups","since":"2026-11-27T09:10:00Z"}],"alarms":[]}`)
	hubtest.WaitFor(t, 10*time.Second, func() bool { return len(hook.requests()) == 1 }, "the critical power cut sent")
	if ev := webhookEvents(t, hook)[0]; ev["kind"] != EventPowerCut {
		t.Fatalf("sent %v", ev)
	}
	if n := count(t, pool, `SELECT count(*) FROM alert_queue WHERE state='queued' AND source LIKE 'incident:03244:pc#%' AND next_at > now() + interval '1 hour'`); n != 1 {
		t.Fatalf("the warning is not held for the end of the quiet hours (%d)", n)
	}
}

func TestRateLimit(t *testing.T) {
	var l limiter
	now := time.Now()
	for i := range 3 {
		if w := l.take(1, 3, now); w != 0 {
			t.Fatalf("take %d waits %v", i, w)
		}
	}
	if w := l.take(1, 3, now); w < 19*time.Second || w > 21*time.Second {
		t.Fatalf("the 4th of 3/min waits %v, want 20s", w)
	}
	if w := l.take(2, 3, now); w != 0 {
		t.Fatal("channels share a bucket")
	}
}

func TestBackoff(t *testing.T) {
	s := &Service{cfg: Config{RetryBase: 10 * time.Second, RetryMax: 15 * time.Minute}}
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 10: 15 * time.Minute, 5000: 15 * time.Minute} {
		if got := s.backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestParseChannelConfigNamesTheField(t *testing.T) {
	for _, c := range []struct{ kind, cfg, field string }{
		{"email", `{"host":"smtp.x","from":"nope"}`, "config.from"},
		{"email", `{"host":"smtp.x","from":"a@b.vn","security":"ssl"}`, "config.security"},
		{"email", `{"host":"","from":"a@b.vn"}`, "config.host"},
		{"webhook", `{"url":"ftp://x","secret":"0123456789abcdef"}`, "config.url"},
		{"webhook", `{"url":"https://x","secret":"short"}`, "config.secret"},
		{"webhook", `{"url":"https://x","secret":"0123456789abcdef","extra":1}`, "config.extra"},
		{"telegram", `{"token":"abc"}`, "config.token"},
		{"zalo", `{"access_token":""}`, "config.access_token"},
		{"sms", `{}`, "kind"},
	} {
		_, err := ParseChannelConfig(c.kind, []byte(c.cfg))
		var he *hub.Error
		if !asHub(err, &he) || he.Field != c.field {
			t.Errorf("%s %s: %v, want field %s", c.kind, c.cfg, err, c.field)
		}
	}
	v, err := ParseChannelConfig("email", []byte(`{"host":"smtp.xa.gov.vn","from":"hub@xa.gov.vn"}`))
	if err != nil || v.(EmailConfig).Port != 587 || v.(EmailConfig).Security != "starttls" {
		t.Fatalf("defaults: %+v %v", v, err)
	}
}

func asHub(err error, he **hub.Error) bool {
	e, ok := err.(*hub.Error)
	*he = e
	return ok
}

// FuzzParseChannelConfig: outside input (the admin API) never panics, and
// what is accepted is accepted again as stored.
func FuzzParseChannelConfig(f *testing.F) {
	for _, s := range []string{`{"host":"smtp.x","from":"a@b.vn"}`, `{"url":"https://x/y","secret":"0123456789abcdef"}`,
		`{"token":"1:a"}`, `{"access_token":"t"}`, `{}`, `[]`, `{"port":1e99}`} {
		for _, k := range []string{KindEmail, KindWebhook, KindTelegram, KindZalo} {
			f.Add(k, s)
		}
	}
	f.Fuzz(func(t *testing.T, kind, raw string) {
		v, err := ParseChannelConfig(kind, []byte(raw))
		if err != nil {
			return
		}
		b, _ := json.Marshal(v)
		if _, err := ParseChannelConfig(kind, b); err != nil {
			t.Fatalf("%s accepted %q but not its stored form %s: %v", kind, raw, b, err)
		}
	})
}

// FuzzParseSnapshots: the payloads alerts reads never panic it, and every
// event they give has a unit and a known kind and severity.
func FuzzParseSnapshots(f *testing.F) {
	f.Add(alarmSnapshot("active_unack"))
	f.Add(`{"unit":"03244","incidents":[{"id":"x","kind":"power_cut","root_device":"ups","title":"` + strings.Repeat("é", 400) + `"}]}`)
	f.Add(`{"unit":"03244","dossiers":{"overdue":[{"code":"A-1","procedure_name":"Khai sinh"}]}}`)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, parse := range []func([]byte) (string, []Event, error){parseDevices, parseBacklog} {
			unit, evs, err := parse([]byte(raw))
			if err != nil {
				continue
			}
			for _, ev := range evs {
				if ev.Unit != unit || severityRank(ev.Severity) < 0 || ev.Source == "" || len(ev.Title) > 310 {
					t.Fatalf("event %+v", ev)
				}
			}
		}
	})
}

// FuzzParseLink: a link from outside never panics and only one this hub
// signed is accepted.
func FuzzParseLink(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Add(signLink(key, "alarm:x#1", "a@b.vn", time.Unix(2e9, 0)))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, token string) {
		l, err := parseLink(key, token)
		if err == nil && signLink(key, l.Source, l.To, l.Expires) != token {
			t.Fatalf("accepted %q, not signed as such", token)
		}
	})
}
