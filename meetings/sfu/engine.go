package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Payload types and codecs: one codec per kind keeps forwarding a copy.
const (
	ptOpus = 111
	ptRED  = 63
	ptVP8  = 96
)

// ErrClosed is returned by operations on a closed Engine, Room or Participant.
var ErrClosed = errors.New("sfu: closed")

// Hooks are the Engine's outward callbacks. Each must return quickly and
// must not call back into the Engine synchronously.
type Hooks struct {
	// OnState is called after a room's members, publications, mutes or
	// speakers change, and with an empty participant list when the room
	// closes.
	OnState func(RoomState)
}

// Engine owns the ICE sockets, the two Pion APIs (publishing and
// subscribing) and the rooms.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	hooks Hooks

	up, down *webrtc.API
	udpMux   ice.UDPMux
	tcpMux   ice.TCPMux
	tcpLn    net.Listener
	batch    *batcher
	fan      *fanout

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
}

// New opens the media sockets and returns an Engine. Close releases them.
func New(cfg Config, hooks Hooks, log *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, log: log, hooks: hooks, rooms: map[string]*Room{}, batch: &batcher{}}
	if err := e.openSockets(); err != nil {
		e.closeSockets()
		return nil, err
	}
	se, err := e.settingEngine()
	if err != nil {
		e.closeSockets()
		return nil, err
	}
	if e.up, err = newUpAPI(se); err != nil {
		e.closeSockets()
		return nil, err
	}
	if e.down, err = newDownAPI(se); err != nil {
		e.closeSockets()
		return nil, err
	}
	e.fan = newFanout(e.batch, cfg.ParallelFanout)
	return e, nil
}

func (e *Engine) openSockets() error {
	lf := pionLoggerFactory{log: e.log}
	// One socket per local address, all on the configured port, each behind
	// its own mux, so replies leave from the address the client used.
	var ips []net.IP
	if e.cfg.ListenIP != "" {
		ips = []net.IP{net.ParseIP(e.cfg.ListenIP)}
	} else if e.cfg.UDPPort == 0 {
		ips = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		var err error
		if ips, err = localIPv4s(e.cfg.Loopback); err != nil {
			return err
		}
	}
	var muxes []ice.UDPMux
	for _, ip := range ips {
		conn, err := listenUDP(ip, e.cfg.UDPPort)
		if err != nil {
			for _, m := range muxes {
				_ = m.Close()
			}
			return fmt.Errorf("media udp port %d on %s: %w", e.cfg.UDPPort, ip, err)
		}
		_ = conn.SetReadBuffer(4 << 20)
		_ = conn.SetWriteBuffer(4 << 20)
		muxes = append(muxes, webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), newBatchConn(conn, e.batch)))
	}
	if len(muxes) == 1 {
		e.udpMux = muxes[0]
	} else {
		e.udpMux = ice.NewMultiUDPMuxDefault(muxes...)
	}
	if e.cfg.TCPPort != 0 {
		port := e.cfg.TCPPort
		if port < 0 {
			port = 0
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(e.cfg.ListenIP, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("media ice-tcp port %d: %w", e.cfg.TCPPort, err)
		}
		e.tcpLn = ln
		e.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
			Listener:        ln,
			Logger:          lf.NewLogger("tcpmux"),
			ReadBufferSize:  64,
			WriteBufferSize: 1 << 20, // beyond this a slow TCP peer loses packets instead of blocking
		})
	}
	return nil
}

func (e *Engine) closeSockets() {
	if e.udpMux != nil {
		_ = e.udpMux.Close()
	}
	if e.tcpMux != nil {
		_ = e.tcpMux.Close()
	}
	if e.tcpLn != nil {
		_ = e.tcpLn.Close()
	}
}

// iceChecksPerPair is how many connectivity checks (200 ms apart) a
// candidate pair gets before it counts as failed.
const iceChecksPerPair = 25

func (e *Engine) settingEngine() (webrtc.SettingEngine, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = pionLoggerFactory{log: e.log}
	se.SetICEUDPMux(e.udpMux)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if e.tcpMux != nil {
		se.SetICETCPMux(e.tcpMux)
		types = append(types, webrtc.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(types)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(e.cfg.Loopback)
	se.SetICETimeouts(e.cfg.DisconnectedTimeout, e.cfg.FailedTimeout, 0)
	// Pion gives a candidate pair up after 7 unanswered checks, 200 ms
	// apart: a link whose round trip stays above ~1.5 s while connecting (a
	// congested rural uplink; a loaded server) never connects, and the
	// participant is closed when ICE fails. Chrome waits about 5 s for a
	// pair to answer; so do we.
	se.SetICEMaxBindingRequests(iceChecksPerPair)
	// A NACK repair is the same packet sent again, arriving late. Pion's
	// SRTP drops a packet more than 64 behind the newest as a replay, so on
	// a link whose round trip spans more than 64 packets (about 0.6 s of 1
	// Mbit/s video) every repair of the publisher's losses was thrown away.
	// The window now covers the NACK generator's (512 packets), as Galene's.
	se.SetSRTPReplayProtectionWindow(historySize)
	// Pion retransmits a lost DTLS flight after 1 s; the first flight is
	// often lost while the other side's ICE is not yet up, which made every
	// join a second slower. Browsers start near 50 ms too.
	se.SetDTLSRetransmissionInterval(100 * time.Millisecond)
	if len(e.cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        e.cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteAppend,
		})
		if err != nil {
			return se, fmt.Errorf("public ips: %w", err)
		}
	}
	return se, nil
}

// newUpAPI is the API for publishing connections: it receives and sends
// receiver reports (Pion's interceptor), and negotiates transport-cc. The
// participant's layer readers ask for lost video themselves
// (nackRequester) and record transport-cc arrivals (twccFeedback), whose
// feedback lets the browser's congestion controller size its simulcast
// layers.
func newUpAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, true); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRepairRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
	} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: x.uri}, x.kind); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(rr)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// newDownAPI is the API for subscribing connections. It has no
// interceptors: each participant sends its own sender reports
// (sendSenderReports), and NACKs are answered by the downTracks themselves
// from a history of references to the shared packets (Pion's responder
// would keep a copy per subscriber and cost a buffer operation per
// packet). The publishers' header extensions are not forwarded; every
// packet carries our own abs-send-time instead, which with goog-remb is
// what a browser needs to estimate its downlink and send REMB (its
// receive-side estimator works on the send times of what it receives).
func newDownAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, false); err != nil {
		return nil, err
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}, k); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se)), nil
}

func registerCodecs(m *webrtc.MediaEngine, up bool) error {
	videoFB := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	var audioFB []webrtc.RTCPFeedback
	if up {
		videoFB = append(videoFB, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
		audioFB = append(audioFB, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
	} else {
		videoFB = append(videoFB, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBGoogREMB})
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFB,
		},
		PayloadType: ptOpus,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: mimeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: redFmtp, RTCPFeedback: audioFB,
		},
		PayloadType: ptRED,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB,
		},
		PayloadType: ptVP8,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return err
	}
	if up {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	return nil
}

// ICEServers returns the STUN/TURN servers clients should use.
func (e *Engine) ICEServers() []ICEServer { return append([]ICEServer(nil), e.cfg.ICEServers...) }

// UDPAddrs returns the local addresses of the media UDP mux.
func (e *Engine) UDPAddrs() []net.Addr { return e.udpMux.GetListenAddresses() }

// TCPAddr returns the ICE-TCP listener address, or nil when disabled.
func (e *Engine) TCPAddr() net.Addr {
	if e.tcpLn == nil {
		return nil
	}
	return e.tcpLn.Addr()
}

func (e *Engine) pionICEServers() []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(e.cfg.ICEServers))
	for _, s := range e.cfg.ICEServers {
		ws := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			ws.Credential = s.Credential
		}
		out = append(out, ws)
	}
	return out
}

// room returns the open room id, creating it when needed.
func (e *Engine) room(id string) (*Room, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	r := e.rooms[id]
	if r == nil || r.isClosed() {
		r = newRoom(e, id)
		e.rooms[id] = r
	}
	return r, nil
}

// forget drops r from the room table when it is still the current room of
// its id.
func (e *Engine) forget(r *Room) {
	e.mu.Lock()
	if e.rooms[r.id] == r {
		delete(e.rooms, r.id)
	}
	e.mu.Unlock()
}

// Rooms returns the ids of the rooms that have participants.
func (e *Engine) Rooms() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.rooms))
	for id := range e.rooms {
		ids = append(ids, id)
	}
	return ids
}

// Stats returns the statistics of a room, and false when no such room is open.
func (e *Engine) Stats(id string) (RoomStats, bool) {
	e.mu.Lock()
	r := e.rooms[id]
	e.mu.Unlock()
	if r == nil {
		return RoomStats{}, false
	}
	rs := r.Stats()
	for _, c := range e.batch.conns {
		rs.SocketDropped += c.dropped.Load()
	}
	return rs, true
}

// Room returns the open room id, or nil.
func (e *Engine) Room(id string) *Room {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rooms[id]
}

// Close closes every participant and room, waits for their goroutines and
// releases the sockets.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	rooms := make([]*Room, 0, len(e.rooms))
	for _, r := range e.rooms {
		rooms = append(rooms, r)
	}
	e.mu.Unlock()
	for _, r := range rooms {
		r.closeAll()
	}
	e.fan.close()
	e.closeSockets()
	return nil
}

func validICEURL(u string) bool {
	for _, p := range []string{"stun:", "stuns:", "turn:", "turns:"} {
		if strings.HasPrefix(u, p) && len(u) > len(p) {
			return true
		}
	}
	return false
}

// localIPv4s lists the host's usable IPv4 addresses.
func localIPv4s(loopback bool) ([]net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || (ifc.Flags&net.FlagLoopback != 0 && !loopback) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, ipn.IP.To4())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no usable IPv4 address for media")
	}
	return out, nil
}
