package devices

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/communehub/communehub/hub/hubtest"
)

// While the hub's own link is down, or back for less than a device's
// timeout, a silent device is unknown, not offline, and no up/down change
// is recorded: a hub whose connection flaps never makes devices flap. A
// device already down when the link went stays down; one still silent a
// whole timeout after the link came back is offline.
func TestHubLinkLossLeavesDevicesUnknownNotDown(t *testing.T) {
	l := newLAN(t)
	l.meta(t0, "ap", "ap", "")
	l.meta(t0, "dead", "pc", "")
	l.tele(t0.Add(30*time.Second), "ap", map[string]float64{"latency_ms": 1})
	l.st.tick(t0.Add(31 * time.Second))
	if got := l.statusOf("dead"); got != StatusOffline {
		t.Fatalf("dead after 31 s: %s", got)
	}
	// The hub's connection flaps: 40 s down, 10 s up. The access point
	// reports every 10 s, but the hub hears only what comes while it is up.
	at := t0.Add(31 * time.Second)
	for i := 0; i < 40; i++ {
		up, phase := i%2 == 1, 40
		l.st.setLink(up, at)
		if up {
			phase = 10
			l.tele(at.Add(5*time.Second), "ap", map[string]float64{"latency_ms": 1})
		}
		for s := 1; s <= phase; s++ {
			l.st.tick(at.Add(time.Duration(s) * time.Second))
			if got := l.statusOf("ap"); got == StatusOffline || got == StatusFlapping {
				t.Fatalf("ap %s at cycle %d second %d while the hub's link flapped", got, i, s)
			}
		}
		at = at.Add(time.Duration(phase) * time.Second)
	}
	if got := l.statusOf("dead"); got != StatusOffline {
		t.Fatalf("a device down before the link flapped: %s", got)
	}
	// Link down: a device that then misses its timeout is unknown.
	l.st.setLink(true, at)
	l.tele(at, "ap", map[string]float64{"latency_ms": 1})
	l.st.setLink(false, at.Add(time.Second))
	l.st.tick(at.Add(40 * time.Second))
	if got := l.statusOf("ap"); got != StatusUnknown {
		t.Fatalf("silent while the hub was disconnected: %s", got)
	}
	// Back: it has a whole timeout to be heard, then it is offline.
	back := at.Add(41 * time.Second)
	l.st.setLink(true, back)
	l.st.tick(back.Add(29 * time.Second))
	if got := l.statusOf("ap"); got != StatusUnknown {
		t.Fatalf("29 s after the link came back: %s", got)
	}
	l.st.tick(back.Add(31 * time.Second))
	if got := l.statusOf("ap"); got != StatusOffline {
		t.Fatalf("31 s after the link came back, still silent: %s", got)
	}
}

// Two hubs with one client id on one Mosquitto take each other's session
// over in a loop. Each says so in an ERROR naming COMMUNEHUB_MQTT_CLIENT_ID,
// and neither shows the device, which reports all along, as offline or
// flapping although each hears only part of its messages.
func TestClientIDTakeoverIsReportedAndDevicesDoNotFlap(t *testing.T) {
	t.Parallel()
	broker := hubtest.StartMosquitto(t, "")
	type hubLog struct {
		h   *testHub
		log *hubtest.SyncBuffer
	}
	var hubs []hubLog
	for range 2 {
		buf := &hubtest.SyncBuffer{}
		log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		pool := seededDB(t)
		h := startTestHubLog(t, pool, Config{URL: "tcp://" + broker, ClientID: "communehub-same", Interval: hubtest.Timeout(time.Second)}, log)
		hubs = append(hubs, hubLog{h, buf})
	}

	dev, err := mqttClient(t, broker, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if tok := dev.Publish("communehub/03244/ap-1/meta", 1, true, `{"name":"AP","kind":"ap"}`); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		t.Fatalf("meta: %v", tok.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the device reports every 100 ms (its timeout is 3 s)
		defer wg.Done()
		for ctx.Err() == nil {
			dev.Publish("communehub/03244/ap-1/telemetry", 0, false, `{"metrics":{"latency_ms":1}}`)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // deadline: the device's reporting pace
			}
		}
	}()
	defer wg.Wait()
	defer cancel()

	seen := map[string]bool{}
	reported := func() bool {
		for _, hl := range hubs {
			if v, ok := hl.h.svc.st.get("03244", "ap-1"); ok {
				seen[v.Status] = true
			}
		}
		for _, hl := range hubs {
			if takeoverLine(hl.log.String()) == "" {
				return false
			}
		}
		return true
	}
	hubtest.WaitFor(t, 60*time.Second, reported, "both hubs report the takeover loop")
	// Keep watching for a while: the loop goes on, the device must not flap.
	until := time.Now().Add(hubtest.Timeout(20 * time.Second))
	hubtest.WaitFor(t, 30*time.Second, func() bool { reported(); return time.Now().After(until) }, "20 s of the loop")
	for _, bad := range []string{StatusOffline, StatusFlapping} {
		if seen[bad] {
			t.Errorf("the device was shown %s because the hubs' own connections flapped (statuses seen: %v)", bad, seen)
		}
	}
	for i, hl := range hubs {
		var short dto.Metric
		_ = hl.h.svc.m.linkLost.WithLabelValues("short").Write(&short)
		if n := short.GetCounter().GetValue(); n < takeoverCount {
			t.Errorf("hub %d: %v short connections counted", i, n)
		}
	}
	t.Logf("%s", takeoverLine(hubs[0].log.String()))
	t.Logf("statuses seen: %v", seen)
}

// takeoverLine is the ERROR line that names the client id setting, if any.
func takeoverLine(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "COMMUNEHUB_MQTT_CLIENT_ID") {
			return line
		}
	}
	return ""
}

// The default client id is unique per installation and kept across
// restarts: made once in the data dir's file, read back after.
func TestDefaultClientIDIsUniqueAndKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "mqtt-client-id")
	first, made, err := defaultClientID(file)
	if err != nil || !made {
		t.Fatal(made, err)
	}
	host, _ := os.Hostname()
	if !strings.HasPrefix(first, "communehub-"+sanitizeID(host)+"-") || len(first) != len("communehub-"+sanitizeID(host)+"-")+8 {
		t.Fatalf("default id %q", first)
	}
	again, made, err := defaultClientID(file)
	if err != nil || again != first || made {
		t.Fatalf("after a restart: %q (%v), first %q", again, err, first)
	}
	other, _, err := defaultClientID(filepath.Join(t.TempDir(), "mqtt-client-id"))
	if err != nil || other == first {
		t.Fatalf("a second installation on this host got %q (%v), the first %q", other, err, first)
	}

	// Through the service: a hub on an external broker uses and keeps it.
	broker := hubtest.StartMosquitto(t, "")
	pool := seededDB(t)
	svcFile := filepath.Join(t.TempDir(), "mqtt-client-id")
	var ids []string
	for range 2 {
		h := startTestHub(t, pool, Config{URL: "tcp://" + broker, ClientIDFile: svcFile})
		ids = append(ids, h.svc.paho[0].clientID)
		h.stop()
	}
	b, _ := os.ReadFile(svcFile)
	if ids[0] != ids[1] || strings.TrimSpace(string(b)) != ids[0] || ids[0] == first {
		t.Fatalf("service ids %v, file %q", ids, b)
	}
}
