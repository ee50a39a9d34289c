package devices

import (
	"bytes"
	"context"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"

	"github.com/communehub/communehub/hub"
)

// embedded is the in-process mochi broker. The hub ingests from its hooks,
// not through a loopback client. A QoS 1 message is acknowledged only once
// it is safe: spooled and fsynced (with a data dir), else committed — the
// same promise as with an external broker. A full queue or spool holds the
// publisher (backpressure) instead of dropping.
type embedded struct {
	srv     *mqtt.Server
	addr    string
	running atomic.Bool
	hand    *handoff
}

func startEmbedded(ctx context.Context, addr string, listen hub.ListenOptions, in *ingest, auth *authenticator, st *state, m *metrics, log *slog.Logger, lim brokerLimits) (*embedded, error) {
	// mochi logs every client that goes away (EOF, a closed socket) as a
	// warning: for a LAN of devices with last wills that is normal life.
	blog := slog.New(minLevel{log.Handler(), slog.LevelError}).With("component", "mqtt-broker")
	caps := mqtt.NewDefaultServerCapabilities()
	// Each client gets a channel of this many pending writes, allocated up
	// front: mochi's default (8,192 × 8 bytes) costs 64 KiB per device,
	// 320 MiB for 5,000 devices that almost never receive anything; 256
	// still cost 2.3 KiB each (11 MiB for 5,000). Devices subscribe to
	// nothing; a subscriber (a tool watching topics) has its queue drained
	// by its own writer as fast as its socket takes it, so a subscriber
	// that falls 32 messages behind is dropped from, counted, and shown as
	// broker drops on the wall.
	caps.MaximumClientWritesPending = clientWritesPending
	// A packet over the limit closes the connection before mochi
	// allocates its body (and before login, the guard's tighter limit).
	caps.MaximumPacketSize = uint32(lim.maxPacket)
	srv := mqtt.New(&mqtt.Options{Logger: blog, SysTopicResendInterval: 10, Capabilities: caps,
		// Devices send small packets and receive almost nothing: 2 KiB
		// buffers each way are 20 MiB for 5,000 connections; 512 B do.
		ClientNetReadBufferSize: 512, ClientNetWriteBufferSize: 512})
	guard := newConnGuard(lim.connectTimeout, lim.maxPacket, m, log)
	if err := srv.AddHook(&authHook{auth: auth, ctx: ctx, in: in, guard: guard}, nil); err != nil {
		return nil, err
	}
	hand := newHandoff(in, m, st)
	if err := srv.AddHook(&ingestHook{hand: hand, auth: auth, st: st, m: m, ctx: ctx, srv: srv}, nil); err != nil {
		hand.stop()
		return nil, err
	}
	// A guarded listener: mochi's own TCP listener stops accepting for good
	// on the first failed accept (out of file descriptors in a flood).
	ln, err := hub.Listen(addr, listen)
	if err != nil {
		hand.stop()
		return nil, err
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		hand.stop()
		return nil, err
	}
	bound := guard.guard(srv, "tcp")
	if err := srv.Serve(); err != nil {
		hand.stop()
		return nil, err
	}
	e := &embedded{srv: srv, addr: bound, hand: hand}
	e.running.Store(true)
	st.setConnected(true)
	m.connected.Set(1)
	return e, nil
}

// stop closes the broker, then lets the handoff workers finish what the
// broker already acknowledged.
func (e *embedded) stop() {
	if e.running.CompareAndSwap(true, false) {
		_ = e.srv.Close()
		e.hand.stop()
	}
}

// authHook authenticates CONNECTs and checks every publish and subscribe;
// refusals are counted and logged (acl.go).
type authHook struct {
	mqtt.HookBase
	auth  *authenticator
	ctx   context.Context
	in    *ingest
	guard *connGuard
}

func (h *authHook) ID() string { return "communehub-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPacketRead, mqtt.OnSubscribe, mqtt.OnDisconnect}, []byte{b})
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if !h.auth.authenticate(h.ctx, string(pk.Connect.Username), pk.Connect.Password) {
		h.guard.refuse("bad_login", cl.Net.Remote, "username", string(pk.Connect.Username))
		return false
	}
	return true
}

// OnACLCheck is asked for each publish (write), each subscription and each
// delivery; a refused publish is a breach, counted here (subscriptions
// are counted in OnSubscribe, deliveries follow an allowed subscription).
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	ok := h.auth.allowed(string(cl.Properties.Username), topic)
	if !ok && write {
		h.breach(cl, "publish", topic)
	}
	return ok
}

// ingestHook feeds the broker's messages to the ingest path through the
// handoff, so that the clients' goroutines (one reader each) stay shallow.
type ingestHook struct {
	mqtt.HookBase
	hand *handoff
	auth *authenticator
	st   *state
	m    *metrics
	ctx  context.Context
	srv  *mqtt.Server

	ackers sync.Map // *mqtt.Client → *pubacker
}

func (h *ingestHook) ID() string { return "communehub-ingest" }

func (h *ingestHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPublish, mqtt.OnWillSent, mqtt.OnSysInfoTick, mqtt.OnDisconnect}, []byte{b})
}

// OnPublish runs on the publisher's goroutine, before mochi would send the
// PUBACK. A QoS 1 message is acknowledged only once ingest says it is safe
// (spooled and fsynced, or committed, or needing no storage):
//
//   - the common case (not retained, nobody subscribed to its topic): the
//     hook takes it, tells mochi to do nothing more (ErrRejectPacket) and
//     writes the PUBACK itself when ingest calls back, so the publisher's
//     next messages are read meanwhile and its in-flight window stays full;
//   - otherwise (retained, subscribers to forward to, QoS 2) it waits for
//     the callback and lets mochi go on: retain, forward, acknowledge.
//
// A message the hub does not take (it is stopping) gets no acknowledgement,
// so the device keeps it and sends it again. QoS 0 is handed over as is.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Qos == 0 || cl.Net.Inline {
		if !h.hand.put(h.ctx, pk.TopicName, pk.Payload, nil) {
			return pk, packets.ErrRejectPacket
		}
		return pk, nil
	}
	if pk.FixedHeader.Qos == 1 && !pk.FixedHeader.Retain && !h.subscribed(pk.TopicName) {
		a := h.pubacker(cl)
		id := pk.PacketID
		h.hand.put(h.ctx, pk.TopicName, pk.Payload, func() { a.ack(id) })
		return pk, packets.ErrRejectPacket
	}
	done := make(chan struct{})
	if !h.hand.put(h.ctx, pk.TopicName, pk.Payload, func() { close(done) }) {
		return pk, packets.ErrRejectPacket
	}
	select {
	case <-done:
		return pk, nil
	case <-h.ctx.Done():
		return pk, packets.ErrRejectPacket
	}
}

// pubacker returns cl's PUBACK writer, made on its first message.
func (h *ingestHook) pubacker(cl *mqtt.Client) *pubacker {
	if a, ok := h.ackers.Load(cl); ok {
		return a.(*pubacker)
	}
	a, _ := h.ackers.LoadOrStore(cl, &pubacker{cl: cl})
	return a.(*pubacker)
}

// OnDisconnect forgets the client's PUBACK writer.
func (h *ingestHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.ackers.Delete(cl)
}

// pubacker writes one client's delayed PUBACKs, in order, from a goroutine
// of its own that runs while there are some to write: a client that stops
// reading its socket blocks only its own acknowledgements, never the
// spool's or another device's.
type pubacker struct {
	cl      *mqtt.Client
	mu      sync.Mutex
	ids     []uint16
	running bool
}

func (a *pubacker) ack(id uint16) {
	a.mu.Lock()
	a.ids = append(a.ids, id)
	if a.running {
		a.mu.Unlock()
		return
	}
	a.running = true
	a.mu.Unlock()
	go a.write()
}

func (a *pubacker) write() {
	var ids []uint16
	for {
		a.mu.Lock()
		ids, a.ids = a.ids, ids[:0]
		if len(ids) == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		for _, id := range ids {
			// An error means the client is gone: it sends the message again
			// when it reconnects, and the stored row makes that a no-op.
			_ = a.cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
		}
	}
}

// subscribed reports whether a client subscribes to topic (the hub itself
// reads through hooks, so usually nobody does).
func (h *ingestHook) subscribed(topic string) bool {
	if atomic.LoadInt64(&h.srv.Info.Subscriptions) <= 0 {
		return false // no subscription at all: skip the scan and its maps
	}
	subs := h.srv.Topics.Subscribers(topic)
	return len(subs.Subscriptions)+len(subs.Shared)+len(subs.InlineSubscriptions) > 0
}

// OnWillSent ingests a last will (wills do not pass through OnPublish). A
// will on a topic its client may not write is ignored.
func (h *ingestHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if !h.auth.allowed(string(cl.Properties.Username), pk.TopicName) {
		h.m.rejected.WithLabelValues("not_allowed").Inc()
		return
	}
	if !h.hand.put(h.ctx, pk.TopicName, pk.Payload, nil) {
		h.m.lost.WithLabelValues("shutdown").Inc() // a will has no sender left to retry it
		h.st.addLost(1)
	}
}

// OnSysInfoTick reports the broker's own drops like Mosquitto's $SYS counter.
func (h *ingestHook) OnSysInfoTick(info *system.Info) {
	dropped := atomic.LoadInt64(&info.MessagesDropped) + atomic.LoadInt64(&info.InflightDropped)
	h.hand.put(h.ctx, SysDroppedTopic, []byte(strconv.Itoa(int(dropped))), nil)
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

// handoff moves messages from the broker's client goroutines to a few
// ingest workers. Messages are sharded by device (so one device's messages
// stay in order) into bounded channels; a full shard holds the publisher.
type handoff struct {
	in     *ingest
	m      *metrics
	st     *state
	shards []chan handoffMsg
	wg     sync.WaitGroup
	once   sync.Once
	ctx    context.Context // ends when stop gives up waiting for queue room
	cancel context.CancelFunc

	// A put may still come from mochi's event loop (the $SYS tick) after
	// the broker's Close returned: stopping wakes a blocked put, and put
	// holds mu (read) while it sends, so stop closes the shards only
	// when no put is sending.
	mu       sync.RWMutex
	closed   bool
	stopping chan struct{}
}

type handoffMsg struct {
	topic   string
	payload []byte
	ack     func() // acknowledges it once ingest has it safe; nil: none due
}

// clientWritesPending is the embedded broker's queue of writes per client
// (mochi's MaximumClientWritesPending).
const clientWritesPending = 32

const (
	handoffWorkers = 4
	handoffDepth   = 256
)

func newHandoff(in *ingest, m *metrics, st *state) *handoff {
	h := &handoff{in: in, m: m, st: st, stopping: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for i := 0; i < handoffWorkers; i++ {
		ch := make(chan handoffMsg, handoffDepth)
		h.shards = append(h.shards, ch)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for msg := range ch {
				// Wait for room even while stopping, until stop gives up. A
				// message with an ack not taken is simply not acknowledged;
				// one without (QoS 0, a will) has no sender to retry it.
				if !h.in.handle(h.ctx, msg.topic, msg.payload, msg.ack, true) && msg.ack == nil {
					h.m.lost.WithLabelValues("shutdown").Inc()
					h.st.addLost(1)
				}
			}
		}()
	}
	return h
}

// shardKey is the part of a topic that names the device (or the Telegraf
// agent): communehub/{unit}/{device}, {prefix}/{unit}/{agent}. All of a
// device's messages (status, meta, telemetry, its will) go to one worker,
// in the order they arrived.
func shardKey(topic string) string {
	n := 0
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			if n++; n == 3 {
				return topic[:i]
			}
		}
	}
	return topic
}

// put hands a message over; false when ctx ended first (not taken, and ack
// never called).
func (h *handoff) put(ctx context.Context, topic string, payload []byte, ack func()) bool {
	f := fnv.New32a()
	f.Write([]byte(shardKey(topic)))
	msg := handoffMsg{topic: topic, payload: bytes.Clone(payload), ack: ack}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return false
	}
	select {
	case h.shards[f.Sum32()%uint32(len(h.shards))] <- msg:
		return true
	case <-ctx.Done():
		return false
	case <-h.stopping:
		return false
	}
}

// stop waits up to 5 s for the workers to finish what was handed over
// (what is left then is counted lost). A put after it, or blocked in it,
// returns false.
func (h *handoff) stop() {
	h.once.Do(func() {
		close(h.stopping)
		h.mu.Lock()
		h.closed = true
		for _, ch := range h.shards {
			close(ch)
		}
		h.mu.Unlock()
		done := make(chan struct{})
		go func() { h.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			h.cancel()
			<-done
		}
		h.cancel()
	})
}
