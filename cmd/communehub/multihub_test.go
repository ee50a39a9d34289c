package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/fasthttp/websocket"

	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// Two hub processes on one database and one Mosquitto, in one shared
// group: each receives only its share of the telemetry, yet both show the
// same LAN — a value that reached one is on the other, a switch's last
// will turns it offline on both within 2 s — and when one is killed the
// other stores every telemetry message published after.
func TestTwoHubsShowTheSameLAN(t *testing.T) {
	t.Parallel()
	broker := hubtest.Mosquitto(t)
	pool, dbURL := hubtest.NewDB(t, migrationSets()...)
	tag := randomTag(t)
	start := func(name string) *binHub {
		clientID := "communehub-multihub-" + tag + "-" + name
		t.Cleanup(func() { forgetSession(broker, clientID) })
		h := startBinary(t, dbURL, []string{
			"COMMUNEHUB_MQTT_URL=tcp://" + broker,
			"COMMUNEHUB_MQTT_CLIENT_ID=" + clientID,
			"COMMUNEHUB_MQTT_SHARED_GROUP=multihub-" + tag,
			"COMMUNEHUB_INSTANCE_ID=" + name,
		})
		h.WaitHTTP(t, 60*time.Second, h.Base+"/readyz", 200)
		return h
	}
	a, b := start("a"), start("b")
	hubs := []*binHub{a, b}
	_, token, err := hub.NewAuth(pool, hub.AuthConfig{}, nil).CreateToken(context.Background(), "multihub", hub.RoleTechnician, "")
	if err != nil {
		t.Fatal(err)
	}
	view := func(h *binHub, id string) (devices.DeviceView, bool) {
		code, body := httpGet(t, h.Base+"/api/v1/devices/03244/"+id, "Authorization", "Bearer "+token)
		var v devices.DeviceView
		return v, code == 200 && json.Unmarshal([]byte(body), &v) == nil
	}
	onBoth := func(timeout time.Duration, id, what string, ok func(devices.DeviceView) bool) time.Duration {
		t.Helper()
		since := time.Now()
		hubtest.WaitFor(t, timeout, func() bool {
			for _, h := range hubs {
				if v, found := view(h, id); !found || !ok(v) {
					return false
				}
			}
			return true
		}, what+" on both hubs")
		return time.Since(since)
	}
	pub := mqttClient(t, broker, "multihub-pub-"+tag, nil)
	publish := func(topic, payload string) {
		t.Helper()
		if tok := pub.Publish(topic, 1, false, payload); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}

	// One telemetry message reaches one hub; its value shows on both.
	ap := "ap-" + tag
	publish("communehub/03244/"+ap+"/meta", `{"name":"AP","kind":"ap"}`)
	publish("communehub/03244/"+ap+"/telemetry", fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":42.5}}`, time.Now().UnixMilli()))
	onBoth(10*time.Second, ap, "the AP's latency 42.5", func(v devices.DeviceView) bool { return v.Metrics["latency_ms"] == 42.5 })

	// A switch's last will reaches both hubs.
	sw := "sw-" + tag
	var conn net.Conn
	var mu sync.Mutex
	swc := mqttClient(t, broker, "multihub-"+sw, func(o *paho.ClientOptions) {
		o.SetWill("communehub/03244/"+sw+"/status", "offline", 1, false)
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.Dial("tcp", u.Host)
			mu.Lock()
			conn = c
			mu.Unlock()
			return c, err
		})
		o.SetAutoReconnect(false)
	})
	for _, m := range [][2]string{{"meta", `{"name":"Switch","kind":"switch"}`}, {"status", "online"}} {
		if tok := swc.Publish("communehub/03244/"+sw+"/"+m[0], 1, false, m[1]); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
			t.Fatalf("switch publish: %v", tok.Error())
		}
	}
	onBoth(10*time.Second, sw, "the switch online", func(v devices.DeviceView) bool { return v.Status == devices.StatusOnline })
	// Each hub's wall topic: the incident the will opens must be on both.
	walls := make([]*wallWatch, len(hubs))
	for i, h := range hubs {
		walls[i] = watchWall(t, h, token, sw)
	}
	mu.Lock()
	conn.Close() // the switch loses power: the broker sends its will
	mu.Unlock()
	took := onBoth(2*time.Second, sw, "the switch offline after its will", func(v devices.DeviceView) bool { return v.Status == devices.StatusOffline })
	t.Logf("last will → offline on both hubs' REST views in %v", took.Round(time.Millisecond))
	hubtest.WaitFor(t, 2*time.Second, func() bool { return walls[0].incident() != "" && walls[1].incident() != "" },
		"the switch's incident on both hubs' commune/03244/devices")
	t.Logf("incident on hub a's wall topic %s, on hub b's %s", walls[0].incident(), walls[1].incident())

	// A device ignored through one hub is ignored on the other.
	pc := "pc-" + tag
	publish("communehub/03244/"+pc+"/meta", `{"name":"PC","kind":"pc"}`)
	onBoth(10*time.Second, pc, "the PC registered", func(v devices.DeviceView) bool { return v.Registration == devices.RegRegistered })
	req, _ := http.NewRequest("POST", b.Base+"/api/v1/devices/03244/"+pc+"/ignore", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ignore through hub b: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	onBoth(5*time.Second, pc, "the PC ignored", func(v devices.DeviceView) bool { return v.Registration == devices.RegIgnored })

	// Kill one hub: every telemetry message published after is stored.
	a.Kill()
	const n = 200
	first := time.Now().Truncate(time.Millisecond).Add(time.Second)
	for i := range n {
		publish("communehub/03244/"+ap+"/telemetry", fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%d}}`, first.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i))
	}
	var stored int
	defer func() {
		if t.Failed() {
			t.Logf("%d of the %d telemetry messages stored", stored, n)
		}
	}()
	hubtest.WaitFor(t, 20*time.Second, func() bool {
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM telemetry WHERE unit='03244' AND device=$1 AND ts >= $2`,
			ap, first).Scan(&stored)
		return err == nil && stored == n
	}, "every telemetry message published after the kill stored")
	if v, _ := view(b, ap); v.Metrics["latency_ms"] != n-1 {
		t.Errorf("the surviving hub shows latency %v, want the last value %d", v.Metrics["latency_ms"], n-1)
	}
}

// wallWatch follows a hub's commune/03244/devices on /ws and keeps the id
// of the first incident rooted at one device.
type wallWatch struct {
	mu sync.Mutex
	id string
}

func (w *wallWatch) incident() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

func watchWall(t *testing.T, h *binHub, token, root string) *wallWatch {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+h.Addr+"/ws?topic=commune/03244/devices",
		http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("websocket: %v (%v)", err, resp)
	}
	w := &wallWatch{}
	done := make(chan struct{})
	go func() { // ends when the socket is closed at cleanup
		defer close(done)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f struct {
				Data devices.Snapshot `json:"data"`
			}
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			for _, inc := range f.Data.Incidents {
				if inc.RootDevice == root {
					w.mu.Lock()
					if w.id == "" {
						w.id = inc.ID
					}
					w.mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(func() { ws.Close(); <-done })
	// The hub subscribes the socket after the upgrade: wait until it counts it.
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		_, body := httpGet(t, h.Base+"/metrics")
		return strings.Contains(body, "\ncommunehub_ws_connections 1\n")
	}, "the websocket subscribed")
	return w
}

// mqttClient connects a client to broker with clientID (and opts applied),
// disconnected at cleanup.
func mqttClient(t *testing.T, broker, clientID string, opts func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(clientID)
	if opts != nil {
		opts(o)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() != nil {
		t.Fatalf("mqtt connect %s: %v", clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// randomTag returns 8 hex digits, for ids a test alone uses on a shared broker.
func randomTag(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
