package devicesim

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Config describes what to simulate.
type Config struct {
	Broker   string               // host:port of the MQTT broker
	Username string               // optional login for every device (a per-commune credential, with one commune)
	Password string               //
	Logins   map[string][2]string // per-commune logins (username, password), overriding Username/Password
	Communes []string             // commune codes, e.g. 03244
	PCs      int                  // PCs per commune (default 8); the LAN has 11 other devices
	Interval time.Duration        // telemetry interval per device (default 10s)
	Scenario bool                 // run outages (switch failure, power cut, flapping AP) on a loop
	Period   time.Duration        // length of one scenario loop (default 6 min)
	Seed     uint64               // random seed (0: time-based)
	Logger   *slog.Logger
}

// Device is one simulated device.
type Device struct {
	Commune, ID, Name, Kind, Parent, IP string
	onUPS                               bool // stays up in a power cut

	sim   *Sim
	nudge chan struct{} // report now (a UPS reacting to the mains)

	mu      sync.Mutex
	client  paho.Client
	conn    net.Conn
	up      bool
	battery float64 // UPS: percent
}

// Sim runs the simulated devices.
type Sim struct {
	cfg     Config
	log     *slog.Logger
	rnd     *rand.Rand
	rndMu   sync.Mutex
	Devices []*Device

	statsMu sync.Mutex
	sent    int64
}

// New lays out the LANs.
func New(cfg Config) *Sim {
	if cfg.PCs <= 0 {
		cfg.PCs = 8
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Period <= 0 {
		cfg.Period = 6 * time.Minute
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{cfg: cfg, log: cfg.Logger, rnd: rand.New(rand.NewPCG(cfg.Seed, 7))}
	for _, c := range cfg.Communes {
		add := func(id, name, kind, parent string, ip int, onUPS bool) {
			s.Devices = append(s.Devices, &Device{Commune: c, ID: id, Name: name, Kind: kind, Parent: parent,
				IP: fmt.Sprintf("192.168.1.%d", ip), onUPS: onUPS, sim: s, battery: 100, nudge: make(chan struct{}, 1)})
		}
		add("router", "Router Internet", "router", "", 1, true)
		add("ups", "UPS phòng máy", "ups", "", 250, true)
		add("sw-core", "Switch lõi", "switch", "router", 2, true)
		add("sw-floor1", "Switch tầng 1", "switch", "sw-core", 3, false)
		add("sw-floor2", "Switch tầng 2", "switch", "sw-core", 4, false)
		add("ap-1", "Wi-Fi một cửa", "ap", "sw-floor1", 11, false)
		add("ap-2", "Wi-Fi hội trường", "ap", "sw-floor2", 12, false)
		add("cam-gate", "Camera cổng", "camera", "sw-floor1", 21, false)
		add("cam-hall", "Camera hội trường", "camera", "sw-floor2", 22, false)
		add("printer", "Máy in một cửa", "printer", "sw-floor1", 30, false)
		add("nvr", "Đầu ghi camera", "camera", "sw-core", 23, true)
		for i := 1; i <= cfg.PCs; i++ {
			parent := "sw-floor1"
			if i%2 == 0 {
				parent = "sw-floor2"
			}
			add(fmt.Sprintf("pc-%02d", i), fmt.Sprintf("Máy tính %02d", i), "pc", parent, 100+i, false)
		}
	}
	return s
}

func (s *Sim) float() float64 {
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return s.rnd.Float64()
}

// Sent returns the number of telemetry messages acknowledged by the broker.
func (s *Sim) Sent() int64 {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.sent
}

func (s *Sim) prefix(d *Device) string { return "communehub/" + d.Commune + "/" + d.ID }

// connect opens d's MQTT connection with its retained will, and announces it.
func (d *Device) connect(ctx context.Context) error {
	s := d.sim
	o := paho.NewClientOptions().AddBroker("tcp://"+s.cfg.Broker).
		SetClientID(fmt.Sprintf("sim-%s-%s", d.Commune, d.ID)).
		SetCleanSession(true).SetAutoReconnect(false).SetKeepAlive(30*time.Second).
		SetConnectTimeout(5*time.Second).
		SetWill(s.prefix(d)+"/status", "offline", 1, true)
	if l, ok := s.cfg.Logins[d.Commune]; ok {
		o.SetUsername(l[0]).SetPassword(l[1])
	} else if s.cfg.Username != "" {
		o.SetUsername(s.cfg.Username).SetPassword(s.cfg.Password)
	}
	o.SetCustomOpenConnectionFn(func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", uri.Host)
		d.mu.Lock()
		d.conn = c
		d.mu.Unlock()
		return c, err
	})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("%s/%s connect: %v", d.Commune, d.ID, tok.Error())
	}
	meta := fmt.Sprintf(`{"name":%q,"kind":%q,"ip":%q,"parent":%q,"location":"UBND xã","interval_s":%d}`,
		d.Name, d.Kind, d.IP, d.Parent, int(s.cfg.Interval/time.Second))
	c.Publish(s.prefix(d)+"/meta", 1, true, meta).WaitTimeout(5 * time.Second)
	c.Publish(s.prefix(d)+"/status", 1, true, "online").WaitTimeout(5 * time.Second)
	d.mu.Lock()
	d.client, d.up = c, true
	d.mu.Unlock()
	return nil
}

// fail cuts d's connection without DISCONNECT: the broker sends its will.
func (d *Device) fail() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.up {
		return
	}
	d.up = false
	if d.conn != nil {
		_ = d.conn.Close()
	}
	if d.client != nil {
		go d.client.Disconnect(0) // releases paho's goroutines; the socket is already gone
	}
}

func (d *Device) isUp() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.up
}

// telemetry returns a realistic reading for d's kind.
func (d *Device) telemetry(onBattery bool, runtime float64) string {
	s := d.sim
	f := s.float
	now := time.Now().UnixMilli()
	switch d.Kind {
	case "router":
		lat := 25 + 20*f() + 30*math.Max(0, math.Sin(float64(now)/6e5))
		return fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%.1f,"loss_pct":%.1f,"cpu_pct":%.0f,"wan_down_mbps":%.1f,"wan_up_mbps":%.1f}}`,
			now, lat, math.Max(0, 3*f()-2.5), 10+25*f(), 20+60*f(), 5+15*f())
	case "ups":
		ob := 0
		if onBattery {
			ob = 1
		}
		return fmt.Sprintf(`{"ts":%d,"metrics":{"on_battery":%d,"runtime_min":%.0f,"battery_pct":%.0f,"load_pct":%.0f}}`,
			now, ob, runtime, d.battery, 30+10*f())
	case "pc":
		return fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%.2f,"loss_pct":0,"cpu_pct":%.0f,"mem_pct":%.0f}}`,
			now, 0.4+1.5*f(), 5+60*f()*f(), 40+30*f())
	case "camera":
		return fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%.2f,"loss_pct":%.1f,"bitrate_kbps":%.0f}}`,
			now, 0.6+2*f(), math.Max(0, 2*f()-1.7), 1800+600*f())
	default:
		return fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":%.2f,"loss_pct":0,"cpu_pct":%.0f,"temp_c":%.0f}}`,
			now, 0.3+1.2*f(), 5+20*f(), 38+10*f())
	}
}
