package devices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// pahoSource consumes an external broker: fixed client id, persistent
// session, QoS 1, subscriptions made in OnConnect, a default handler, and a
// handler that never blocks. Messages are acknowledged only once stored, so
// the broker keeps (and after a reconnect redelivers) whatever the hub has
// not written yet.
type pahoSource struct {
	brokerURL string
	clientID  string
	user      string
	pass      string
	filters   []string
	in        *ingest
	st        *state
	m         *metrics
	log       *slog.Logger

	resume     atomic.Bool // a message was left unacknowledged: reconnect once the queue has room
	subscribed atomic.Bool // the subscriptions of the current connection are acknowledged

	mu     sync.Mutex
	client paho.Client
	ctx    context.Context

	takeover takeoverWatch

	// telemetryConn: the clean-session connection of the shared telemetry.
	// It does not stand for the hub's link (statuses come on the other),
	// and a message it cannot queue is queued anyway: a clean session is
	// never redelivered, and the broker's in-flight window bounds how many
	// unacknowledged messages it has.
	telemetryConn bool
}

// subscriptionFilters lists what the hub subscribes to. Without a shared
// group one persistent session takes everything. With one, statuses, meta
// (and their wills) and the broker's $SYS counter stay on the persistent
// session, not shared, so every hub instance sees every device's status at
// once (they are few); only telemetry is split between the instances of
// the group, on a second connection (see telemetryConn).
func subscriptionFilters(telegraf, shared string) (state, telemetry []string) {
	state = []string{TopicPrefix + "/+/+/status", TopicPrefix + "/+/+/meta"}
	telemetry = []string{TopicPrefix + "/+/+/telemetry"}
	if telegraf != "" {
		telemetry = append(telemetry, telegraf+"/#")
	}
	if shared == "" {
		return append(append(state, telemetry...), SysDroppedTopic), nil
	}
	for i, f := range telemetry {
		telemetry[i] = "$share/" + shared + "/" + f
	}
	return append(state, SysDroppedTopic), telemetry
}

// TelemetryClientSuffix is appended to the hub's client id for its shared
// telemetry connection.
const TelemetryClientSuffix = "-telemetry"

// newPahoSources returns the hub's broker connections: one, or with a
// shared group two — the persistent one for statuses and a clean-session
// one for the shared telemetry. Clean, because Mosquitto keeps handing a
// persistent shared subscriber its share while it is disconnected: the
// share of an instance that died would wait in its session until it came
// back. With a clean session the broker forgets it as soon as its
// connection closes, and the other instances of the group get everything.
func newPahoSources(rawURL, clientID, telegraf, shared string, in *ingest, st *state, m *metrics, log *slog.Logger) ([]*pahoSource, error) {
	stateFilters, teleFilters := subscriptionFilters(telegraf, shared)
	p, err := newPahoSource(rawURL, clientID, stateFilters, in, st, m, log)
	if err != nil || teleFilters == nil {
		return []*pahoSource{p}, err
	}
	t, err := newPahoSource(rawURL, clientID+TelemetryClientSuffix, teleFilters, in, st, m, log.With("connection", "telemetry"))
	if err != nil {
		return nil, err
	}
	t.telemetryConn = true
	return []*pahoSource{p, t}, nil
}

func newPahoSource(rawURL, clientID string, filters []string, in *ingest, st *state, m *metrics, log *slog.Logger) (*pahoSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mqtt url: %w", err)
	}
	p := &pahoSource{clientID: clientID, filters: filters, in: in, st: st, m: m, log: log}
	if u.User != nil {
		p.user = u.User.Username()
		p.pass, _ = u.User.Password()
	}
	scheme := u.Scheme
	switch scheme {
	case "mqtt":
		scheme = "tcp"
	case "mqtts", "tls":
		scheme = "ssl"
	}
	p.brokerURL = scheme + "://" + u.Host
	return p, nil
}

func (p *pahoSource) options() *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(p.brokerURL).
		SetClientID(p.clientID).
		SetCleanSession(p.telemetryConn).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetPingTimeout(10 * time.Second).
		SetOrderMatters(true). // the handler never blocks, so in-order delivery costs nothing
		SetAutoAckDisabled(true).
		SetDefaultPublishHandler(p.onMessage).
		SetOnConnectHandler(p.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			p.log.Warn("mqtt connection lost; reconnecting", "broker", p.brokerURL, "err", err)
			p.subscribed.Store(false)
			p.setConnected(false)
			n, ok := p.takeover.lost(time.Now())
			if n > 0 {
				p.m.linkLost.WithLabelValues("short").Inc()
			} else {
				p.m.linkLost.WithLabelValues("long").Inc()
			}
			if ok {
				p.log.Error("mqtt: the broker keeps closing the hub's connection seconds after it connects: "+
					"another MQTT client, most likely a second hub, uses the same client id and takes the session over; "+
					"give each hub its own COMMUNEHUB_MQTT_CLIENT_ID (--mqtt-client-id)",
					"client_id", p.clientID, "broker", p.brokerURL, "short_connections", n, "within", takeoverWindow.String(), "err", err)
			}
		}).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			p.log.Debug("mqtt reconnecting", "broker", p.brokerURL)
		})
	if p.user != "" {
		o.SetUsername(p.user).SetPassword(p.pass)
	}
	if strings.HasPrefix(p.brokerURL, "tcp://") {
		o.SetCustomOpenConnectionFn(func(uri *url.URL, opts paho.ClientOptions) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: opts.ConnectTimeout}).Dial("tcp", uri.Host)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
			return newBufferedConn(c), nil
		})
	}
	return o
}

func (p *pahoSource) setConnected(ok bool) {
	if p.telemetryConn {
		return
	}
	p.st.setConnected(ok)
	if ok {
		p.m.connected.Set(1)
	} else {
		p.m.connected.Set(0)
	}
}

// onConnect (re)subscribes on every connection: a persistent session keeps
// subscriptions, but a broker that lost its state would not.
func (p *pahoSource) onConnect(c paho.Client) {
	p.log.Info("mqtt connected", "broker", p.brokerURL, "client_id", p.clientID)
	p.takeover.connected(time.Now())
	p.setConnected(true)
	subs := make(map[string]byte, len(p.filters))
	for _, f := range p.filters {
		subs[f] = 1
	}
	tok := c.SubscribeMultiple(subs, p.onMessage)
	go func() { // OnConnect must not wait on the network
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			p.log.Error("mqtt subscribe failed", "filters", p.filters, "err", tok.Error())
			return
		}
		p.subscribed.Store(true)
	}()
}

// onMessage must return at once: parse, enqueue, return.
func (p *pahoSource) onMessage(_ paho.Client, msg paho.Message) {
	if p.telemetryConn {
		p.in.handleQueued(msg.Topic(), msg.Payload(), msg.Ack)
		return
	}
	if !p.in.handle(p.ctx, msg.Topic(), msg.Payload(), msg.Ack, false) {
		p.resume.Store(true)
	}
}

// start connects (retrying in the background until it succeeds).
func (p *pahoSource) start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx = ctx
	p.setConnected(false) // not listening until the first connection is up
	p.client = paho.NewClient(p.options())
	p.client.Connect() // ConnectRetry: keeps trying; OnConnect reports success
}

// run watches for messages left unacknowledged because the queue was full:
// once half the queue is free it reconnects, and the broker redelivers them.
func (p *pahoSource) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.resume.Load() && p.in.w.queuedRows() < p.in.w.capRows/2 {
			p.resume.Store(false)
			p.log.Warn("mqtt: reconnecting so the broker redelivers messages held back while the queue was full")
			p.mu.Lock()
			old := p.client
			p.client = paho.NewClient(p.options())
			p.mu.Unlock()
			old.Disconnect(100)
			p.setConnected(false)
			p.client.Connect()
		}
	}
}

func (p *pahoSource) stop() {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c != nil {
		c.Disconnect(250)
	}
	p.setConnected(false)
}

func (p *pahoSource) ready(context.Context) error {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c == nil || !c.IsConnectionOpen() {
		return errors.New("not connected to MQTT broker " + strings.TrimPrefix(p.brokerURL, "tcp://"))
	}
	if !p.subscribed.Load() {
		return errors.New("connected to " + strings.TrimPrefix(p.brokerURL, "tcp://") + ", subscriptions not yet acknowledged")
	}
	return nil
}

// A takeover loop: two clients with one client id make the broker close
// the older connection each time the other connects, so each hub's
// connection dies seconds after it came up, with a bare EOF (MQTT 3.1.1
// has no reason code for it).
const (
	takeoverShort  = 15 * time.Second // a connection lost this soon after connecting is short
	takeoverWindow = 2 * time.Minute
	takeoverCount  = 3 // short connections within the window that make a loop
)

// takeoverWatch counts connections lost shortly after they came up; paho
// calls its handlers from its own goroutines, hence the mutex.
type takeoverWatch struct {
	mu       sync.Mutex
	upAt     time.Time
	short    []time.Time
	reported time.Time
}

func (w *takeoverWatch) connected(now time.Time) {
	w.mu.Lock()
	w.upAt = now
	w.mu.Unlock()
}

// lost records a lost connection; ok (at most once per window) when the
// short connections within the window make a takeover loop, with their number.
func (w *takeoverWatch) lost(now time.Time) (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.upAt.IsZero() || now.Sub(w.upAt) > takeoverShort {
		return 0, false
	}
	w.short = append(w.short, now)
	for len(w.short) > 0 && now.Sub(w.short[0]) > takeoverWindow {
		w.short = w.short[1:]
	}
	if len(w.short) < takeoverCount || (!w.reported.IsZero() && now.Sub(w.reported) < takeoverWindow) {
		return len(w.short), false
	}
	w.reported = now
	return len(w.short), true
}
