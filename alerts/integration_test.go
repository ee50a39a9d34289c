package alerts

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// fullHub is the devices feature (its embedded broker) and alerts on one
// bus and database: the hub as far as a notification is concerned.
type fullHub struct {
	dev    *devices.Service
	alerts *running
	cancel context.CancelFunc
	done   chan struct{}
}

func startFullHub(t *testing.T, pool *pgxpool.Pool, listen string, cfg Config) *fullHub {
	t.Helper()
	topics := hub.NewTopics(nil)
	bus := hub.NewBus(hub.BusOptions{Topics: topics, Strict: true})
	dev, err := devices.New(devices.Config{Listen: listen, AllowAnonymous: true, Interval: 300 * time.Millisecond}, hub.Deps{Pool: pool, Bus: bus, Topics: topics,
		Metrics: hub.NewMetrics(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := dev.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &fullHub{dev: dev, cancel: cancel, done: make(chan struct{})}
	go func() { dev.Run(ctx); close(h.done) }()
	hubtest.WaitFor(t, 10*time.Second, func() bool { return dev.ReadyMQTT(ctx) == nil }, "mqtt ready")
	h.alerts = startAlerts(t, pool, cfg, dev, bus, topics)
	t.Cleanup(h.stop)
	return h
}

func (h *fullHub) stop() {
	if h.cancel == nil {
		return
	}
	h.alerts.stop()
	h.cancel()
	<-h.done
	h.cancel = nil
}

func publishMQTT(t *testing.T, broker, topic, payload string) {
	t.Helper()
	if err := tryPublishMQTT(broker, topic, payload); err != nil {
		t.Fatal(err)
	}
}

// tryPublishMQTT publishes one message over a connection of its own.
func tryPublishMQTT(broker, topic, payload string) error {
	o := paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(fmt.Sprintf("alerts-test-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetConnectTimeout(hubtest.Timeout(3 * time.Second))
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		return fmt.Errorf("connect %s: %v", broker, tok.Error())
	}
	defer c.Disconnect(50)
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		return fmt.Errorf("publish %s: %v", topic, tok.Error())
	}
	return nil
}

// keepAlive publishes the device's telemetry every 100 ms (its interval
// is 300 ms) until the returned function is called, which fails the test
// (on the test's goroutine) with the first publish that failed.
func keepAlive(t *testing.T, broker, topic string) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	var failed error
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := tryPublishMQTT(broker, topic, fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":2}}`, time.Now().UnixMilli())); err != nil && failed == nil {
				failed = err
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		t.Helper()
		once.Do(func() {
			close(stop)
			<-done
			if failed != nil {
				t.Errorf("keeping the device alive: %v", failed)
			}
		})
	}
}

// The "done when": a device taken down through the real broker
// sends one email (in-process SMTP) and one webhook call, an escalation
// after the (shortened) timeout, one recovery message per recipient, and
// no duplicate across a hub restart in the middle.
func TestDeviceDownNotifiesOnceEscalatesAndRecoversAcrossRestart(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	mb := newMailbox(t)
	hook := newRecorder(t, `{}`)
	email := addChannel(t, pool, "Email xã", KindEmail, emailConfig(mb))
	webhook := addChannel(t, pool, "Webhook", KindWebhook, `{"url":"`+hook.URL+`/hook","secret":"0123456789abcdef"}`)
	addRule(t, pool, Rule{Name: "Trực kỹ thuật", Unit: "03244", Kinds: []string{EventDeviceDown}, EscalateAfter: 2,
		Recipients: []Recipient{{Channel: email, To: "truc@xa.gov.vn"}, {Channel: webhook}, {Channel: email, To: "truong@xa.gov.vn", Level: 1}}})

	cfg := fastConfig()
	listen := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
	h := startFullHub(t, pool, listen, cfg)
	h2 := func() *fullHub { return h }
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range mb.messages() {
				t.Logf("email %s: %s", m.To, m.Subject)
			}
			rows, _ := pool.Query(context.Background(), `SELECT source, closed_at IS NOT NULL, notified_at IS NOT NULL FROM alert_events`)
			for rows.Next() {
				var s string
				var a, b bool
				rows.Scan(&s, &a, &b)
				t.Logf("event %s closed=%v notified=%v", s, a, b)
			}
			rows.Close()
			if ev := h2().alerts.bus.Latest(devices.UnitTopic("03244")); ev != nil {
				t.Logf("latest snapshot %s", ev.Data)
			}
		}
	})
	dev := "communehub/03244/router-1/"
	publishMQTT(t, listen, dev+"meta", `{"name":"Router xã","kind":"router"}`)
	publishMQTT(t, listen, dev+"status", "online")
	alive := keepAlive(t, listen, dev+"telemetry")
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM devices WHERE unit='03244' AND id='router-1' AND status='online'`) == 1
	}, "router online")
	alive()
	publishMQTT(t, listen, dev+"status", "offline")

	hubtest.WaitFor(t, 10*time.Second, func() bool { return mb.count("truc@xa.gov.vn", "Sự cố") == 1 && len(hook.requests()) == 1 },
		"one email and one webhook call for the incident")
	ev := webhookEvents(t, hook)[0]
	if ev["phase"] != PhaseOpened || ev["kind"] != EventDeviceDown || ev["unit"] != "03244" || !strings.HasPrefix(fmt.Sprint(ev["ack_url"]), "http://hub.test/alerts/ack/") {
		t.Fatalf("webhook event %v", ev)
	}
	r := hook.requests()[0]
	if got, want := r.Header.Get(WebhookSignatureHeader), WebhookSignature("0123456789abcdef", r.Header.Get(WebhookTimestampHeader), r.Body); got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}

	// The hub restarts while the device is down (before the escalation),
	// once devices has stored the incident.
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM incidents WHERE unit='03244' AND closed_at IS NULL`) == 1 &&
			count(t, pool, `SELECT count(*) FROM devices WHERE unit='03244' AND id='router-1' AND status='offline'`) == 1
	}, "the incident stored")
	h.stop()
	h = startFullHub(t, pool, listen, cfg)
	hubtest.WaitFor(t, 15*time.Second, func() bool { return mb.count("truong@xa.gov.vn", "báo tiếp") == 1 }, "the escalation to the next person")
	publishMQTT(t, listen, dev+"status", "online")
	alive = keepAlive(t, listen, dev+"telemetry")
	defer alive()
	hubtest.WaitFor(t, 10*time.Second, func() bool {
		return mb.count("truc@xa.gov.vn", "Đã khắc phục") == 1 && mb.count("truong@xa.gov.vn", "Đã khắc phục") == 1 && len(hook.requests()) == 2
	}, "one recovery message to each person told")
	// Let the tick and the sender run a few more rounds: nothing more.
	time.Sleep(hubtest.Timeout(500 * time.Millisecond)) // sleep: proving nothing else comes
	if n := len(mb.messages()); n != 4 {
		for _, m := range mb.messages() {
			t.Logf("%s: %s", m.To, m.Subject)
		}
		t.Fatalf("%d emails, want 4 (opened, escalated, 2 recovered)", n)
	}
	if evs := webhookEvents(t, hook); len(evs) != 2 || evs[1]["phase"] != PhaseRecovered {
		t.Fatalf("webhook events %v", evs)
	}
	if n := count(t, pool, `SELECT count(*) FROM alert_queue WHERE state <> 'sent'`); n != 0 {
		t.Fatalf("%d queue rows not sent", n)
	}
}
