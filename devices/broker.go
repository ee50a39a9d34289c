package devices

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
)

// embedded is the in-process mochi broker. The hub ingests from its hooks,
// not through a loopback client: OnPublish runs on the publishing client's
// goroutine before its PUBACK, so a full queue holds that publisher
// (backpressure) instead of dropping, and nothing is lost between the
// broker and the hub.
type embedded struct {
	srv     *mqtt.Server
	addr    string
	running atomic.Bool
}

func startEmbedded(ctx context.Context, addr string, in *ingest, auth *authenticator, st *state, m *metrics, log *slog.Logger) (*embedded, error) {
	// mochi logs every client that goes away (EOF, a closed socket) as a
	// warning: for a LAN of devices with last wills that is normal life.
	blog := slog.New(minLevel{log.Handler(), slog.LevelError}).With("component", "mqtt-broker")
	srv := mqtt.New(&mqtt.Options{Logger: blog, SysTopicResendInterval: 10})
	if err := srv.AddHook(&authHook{auth: auth, ctx: ctx}, nil); err != nil {
		return nil, err
	}
	if err := srv.AddHook(&ingestHook{in: in, auth: auth, st: st, m: m, ctx: ctx}, nil); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, err
	}
	e := &embedded{srv: srv, addr: addr}
	e.running.Store(true)
	st.setConnected(true)
	m.connected.Set(1)
	return e, nil
}

func (e *embedded) stop() {
	if e.running.CompareAndSwap(true, false) {
		_ = e.srv.Close()
	}
}

// authHook authenticates CONNECTs and checks every publish and subscribe.
type authHook struct {
	mqtt.HookBase
	auth *authenticator
	ctx  context.Context
}

func (h *authHook) ID() string { return "communehub-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.auth.authenticate(h.ctx, string(pk.Connect.Username), pk.Connect.Password)
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return h.auth.allowed(string(cl.Properties.Username), topic)
}

// ingestHook feeds the broker's messages to the ingest path.
type ingestHook struct {
	mqtt.HookBase
	in   *ingest
	auth *authenticator
	st   *state
	m    *metrics
	ctx  context.Context
}

func (h *ingestHook) ID() string { return "communehub-ingest" }

func (h *ingestHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPublish, mqtt.OnWillSent, mqtt.OnSysInfoTick}, []byte{b})
}

// OnPublish runs before the publisher's PUBACK; it may wait for queue room.
// When the hub is stopping and the queue is full, the packet is rejected
// without a PUBACK, so the device keeps it and sends it again.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !h.in.handle(h.ctx, pk.TopicName, pk.Payload, nil, true) {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnWillSent ingests a last will (wills do not pass through OnPublish). A
// will on a topic its client may not write is ignored.
func (h *ingestHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if !h.auth.allowed(string(cl.Properties.Username), pk.TopicName) {
		h.m.rejected.WithLabelValues("not_allowed").Inc()
		return
	}
	if !h.in.handle(h.ctx, pk.TopicName, pk.Payload, nil, true) {
		h.m.lost.WithLabelValues("shutdown").Inc() // a will has no sender left to retry it
		h.st.addLost(1)
	}
}

// OnSysInfoTick reports the broker's own drops like Mosquitto's $SYS counter.
func (h *ingestHook) OnSysInfoTick(info *system.Info) {
	dropped := atomic.LoadInt64(&info.MessagesDropped) + atomic.LoadInt64(&info.InflightDropped)
	h.in.handle(h.ctx, SysDroppedTopic, []byte(strconv.Itoa(int(dropped))), nil, false)
}

// minLevel passes on records at or above min only.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
