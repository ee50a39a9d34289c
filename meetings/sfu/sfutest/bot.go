package sfutest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// magic marks a bot payload; a UnixNano send time and a counter follow.
var magic = [4]byte{0xfa, 0xfa, 0xfa, 0xfa}

// Config describes one bot.
type Config struct {
	Name      string
	Audio     bool // publish Opus
	Video     bool // publish a VP8 camera
	Simulcast bool // publish the camera as two layers, rids "l" and "h"
	Screen    bool // publish a VP8 screen share
	// VideoBitrate is the camera's (high layer's) bitrate in bit/s; 300k
	// when zero. The low layer gets a quarter.
	VideoBitrate int
	FPS          int  // 15 when zero
	AudioLevel   int  // RFC 6464 level sent with audio, 0 loud..127 silent; 0 means 30
	Silent       bool // send level 127
	// DownLoss and UpLoss drop that fraction of incoming / outgoing RTP
	// packets on the bot's socket (0..1).
	DownLoss, UpLoss float64
	// UpDelay holds every RTP packet the bot sends (media and its NACK
	// repairs) this long, as a long or congested uplink does.
	UpDelay time.Duration
	// TCP makes the bot use ICE-TCP only.
	TCP bool
	// CountOnly makes the bot count received packets without parsing
	// them (no latency, frames or sequence tracking; cheaper for benchmarks).
	CountOnly bool
	// Lean leaves out the NACK interceptors (benchmark receivers).
	Lean bool
	// AbsSendTime negotiates the abs-send-time extension on what the bot
	// receives, as a browser does (the server then stamps every packet);
	// RecvTrack.SendTimes counts the packets that carried it.
	AbsSendTime bool
	// RED publishes audio as RED (RFC 2198: each packet also carries the
	// previous Opus frame), as a browser does when it puts audio/red first.
	RED bool
	// NoRED leaves RED out of what the bot can receive (a browser without
	// it): the server must then send it the primary Opus frames only.
	NoRED bool
	// TransportCC numbers every packet the bot publishes with the
	// transport-wide sequence extension, as a browser does for its
	// congestion control; TransportFeedback counts the server's replies.
	TransportCC bool
}

// Transport carries the bot's messages to the server.
type Transport interface {
	Send(msgType string, body any) error
}

// Bot is a synthetic participant. Create it with New, give it a Transport,
// feed it server messages with Handle, and call Start to publish.
type Bot struct {
	cfg Config
	tr  Transport

	up, down *webrtc.PeerConnection
	conns    []*lossyConn
	muxes    []ice.UDPMux

	inbox chan inMsg
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu       sync.Mutex
	tracks   map[string]*RecvTrack // by down mid
	mids     map[string]DownTrack  // server's description of down mids
	lastErr  string
	errs     []string
	active   string
	speakers []string
	quality  map[string]any
	redirect string

	videoSenders []*sender
	audioSender  *sender
	forceKey     atomic.Bool
	twccFB       atomic.Uint64 // transport-cc feedback packets received
	twccAcked    atomic.Uint64 // packets those reported received
	remb         atomic.Uint64 // bit/s the bot reports in REMB, 0 for none
	rembOnce     sync.Once

	start      time.Time
	firstFrame atomic.Int64 // ns after start of the first complete remote keyframe
	offersSeen atomic.Int64
}

// DownTrack mirrors the server's description of a down m-line.
type DownTrack struct {
	Mid         string `json:"mid"`
	Track       string `json:"track"`
	Participant string `json:"participant"`
	Kind        string `json:"kind"`
	Source      string `json:"source"`
}

type inMsg struct {
	typ  string
	body json.RawMessage
}

// sender is one published RTP stream (a layer).
type sender struct {
	track   *webrtc.TrackLocalStaticRTP
	rid     string
	midID   uint8
	ridID   uint8
	lvlID   uint8
	mid     string
	seq     uint16
	bitrate int
	counter uint32
	prev    []byte // RED: the previous audio payload and its timestamp
	prevTS  uint32
}

// New creates a bot's connections. The bot listens on its own loopback UDP
// socket so that loss can be injected.
func New(cfg Config, tr Transport) (*Bot, error) {
	if cfg.Name == "" {
		cfg.Name = "bot" // the stream id: Pion takes ssrcs without one for Plan B
	}
	if cfg.VideoBitrate == 0 {
		cfg.VideoBitrate = 300_000
	}
	if cfg.FPS == 0 {
		cfg.FPS = 15
	}
	if cfg.AudioLevel == 0 {
		cfg.AudioLevel = 30
	}
	if cfg.Silent {
		cfg.AudioLevel = 127
	}
	b := &Bot{
		cfg: cfg, tr: tr, inbox: make(chan inMsg, 1024), quit: make(chan struct{}),
		tracks: map[string]*RecvTrack{}, mids: map[string]DownTrack{}, quality: map[string]any{},
	}
	// Each connection gets its own socket, as in a browser: the server's
	// UDP mux tells peers apart by their address.
	newPC := func() (*webrtc.PeerConnection, error) {
		var se webrtc.SettingEngine
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetIncludeLoopbackCandidate(true)
		se.SetDTLSRetransmissionInterval(100 * time.Millisecond)
		se.SetICEMaxBindingRequests(25) // a browser's patience (~5 s) before a candidate pair fails
		// Repairs arrive late: Pion's default replay window (64 packets)
		// would drop those from more than 64 packets back, which browsers keep.
		se.SetSRTPReplayProtectionWindow(512)
		se.LoggerFactory = quietLogger{}
		if cfg.TCP {
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
		} else {
			pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return nil, err
			}
			_ = pc.SetReadBuffer(1 << 20)
			c := newLossyConn(pc, cfg.DownLoss, cfg.UpLoss, cfg.UpDelay)
			m := webrtc.NewICEUDPMux(quietLogger{}.NewLogger("udpmux"), c)
			b.conns = append(b.conns, c)
			b.muxes = append(b.muxes, m)
			se.SetICEUDPMux(m)
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		}
		api, err := botAPI(se, cfg)
		if err != nil {
			return nil, err
		}
		return api.NewPeerConnection(webrtc.Configuration{})
	}
	var err error
	if b.up, err = newPC(); err != nil {
		b.closeSockets()
		return nil, err
	}
	if b.down, err = newPC(); err != nil {
		_ = b.up.Close()
		b.closeSockets()
		return nil, err
	}
	b.up.OnICECandidate(func(c *webrtc.ICECandidate) { b.sendCandidate("up", c) })
	b.down.OnICECandidate(func(c *webrtc.ICECandidate) { b.sendCandidate("down", c) })
	b.down.OnTrack(b.onTrack)
	b.wg.Add(1)
	go b.loop()
	return b, nil
}

// RED's codec as browsers offer it: redundancy of Opus (payload type 111).
var redCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"},
	PayloadType:        63,
}

func botAPI(se webrtc.SettingEngine, cfg Config) (*webrtc.API, error) {
	lean, absSendTime := cfg.Lean, cfg.AbsSendTime
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	// The first audio codec offered is the one sent: RED first when the bot
	// publishes RED, after Opus when it only accepts it.
	if cfg.RED {
		if err := m.RegisterCodec(redCodec, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if !cfg.RED && !cfg.NoRED {
		if err := m.RegisterCodec(redCodec, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		uri string
		k   webrtc.RTPCodecType
	}{
		{sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
	} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: x.uri}, x.k); err != nil {
			return nil, err
		}
	}
	if cfg.TransportCC {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k); err != nil {
				return nil, err
			}
		}
	}
	if absSendTime {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}, k); err != nil {
				return nil, err
			}
		}
	}
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	resp, err := nack.NewResponderInterceptor(nack.ResponderSize(256))
	if err != nil {
		return nil, err
	}
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	if !lean {
		ir.Add(gen)
		ir.Add(resp)
	}
	ir.Add(rr)
	ir.Add(sr)
	if cfg.TransportCC {
		tcc, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			return nil, err
		}
		ir.Add(tcc)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func (b *Bot) sendCandidate(target string, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	j := c.ToJSON()
	_ = b.tr.Send("candidate", map[string]any{"target": target, "candidate": j})
}

// Handle queues a server message for the bot's loop. It never blocks for
// long; messages beyond the inbox are dropped (and the test will notice).
func (b *Bot) Handle(msgType string, body []byte) {
	select {
	case b.inbox <- inMsg{msgType, append(json.RawMessage(nil), body...)}:
	case <-b.quit:
	}
}

func (b *Bot) loop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.quit:
			return
		case m := <-b.inbox:
			if err := b.handle(m); err != nil {
				b.mu.Lock()
				b.errs = append(b.errs, err.Error())
				b.mu.Unlock()
			}
		}
	}
}

func (b *Bot) handle(m inMsg) error {
	switch m.typ {
	case "offer":
		var o struct {
			SDP    string      `json:"sdp"`
			Tracks []DownTrack `json:"tracks"`
		}
		if err := json.Unmarshal(m.body, &o); err != nil {
			return err
		}
		b.mu.Lock()
		for _, t := range o.Tracks {
			b.mids[t.Mid] = t
		}
		b.mu.Unlock()
		if err := b.down.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
			return fmt.Errorf("set offer: %w", err)
		}
		ans, err := b.down.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := b.down.SetLocalDescription(ans); err != nil {
			return err
		}
		b.offersSeen.Add(1)
		return b.tr.Send("answer", map[string]any{"sdp": ans.SDP})
	case "answer":
		var a struct {
			SDP string `json:"sdp"`
		}
		if err := json.Unmarshal(m.body, &a); err != nil {
			return err
		}
		return b.up.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP})
	case "candidate":
		var c struct {
			Target    string                  `json:"target"`
			Candidate webrtc.ICECandidateInit `json:"candidate"`
		}
		if err := json.Unmarshal(m.body, &c); err != nil {
			return err
		}
		pc := b.up
		if c.Target == "down" {
			pc = b.down
		}
		return pc.AddICECandidate(c.Candidate)
	case "speakers":
		var s struct {
			Active   string `json:"active"`
			Speaking []struct {
				ID string `json:"id"`
			} `json:"speaking"`
		}
		if err := json.Unmarshal(m.body, &s); err != nil {
			return err
		}
		b.mu.Lock()
		b.active = s.Active
		b.speakers = b.speakers[:0]
		for _, x := range s.Speaking {
			b.speakers = append(b.speakers, x.ID)
		}
		b.mu.Unlock()
	case "quality":
		q := map[string]any{}
		_ = json.Unmarshal(m.body, &q)
		b.mu.Lock()
		b.quality = q
		b.mu.Unlock()
	case "error", "bye":
		b.mu.Lock()
		b.lastErr = m.typ + " " + string(m.body)
		b.mu.Unlock()
	case "redirect":
		var r struct {
			URL string `json:"url"`
		}
		_ = json.Unmarshal(m.body, &r)
		b.mu.Lock()
		b.redirect = r.URL
		b.mu.Unlock()
	}
	return nil
}

// Start publishes the configured tracks: it offers the up connection and
// starts the packet pump.
func (b *Bot) Start() error {
	b.start = time.Now()
	sources := map[string]string{}
	if b.cfg.Audio {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		if b.cfg.RED {
			codec = redCodec.RTPCodecCapability
		}
		t, err := webrtc.NewTrackLocalStaticRTP(codec, "audio", b.cfg.Name)
		if err != nil {
			return err
		}
		s, err := b.up.AddTrack(t)
		if err != nil {
			return err
		}
		b.audioSender = &sender{track: t}
		b.drainRTCP(s, "")
		_ = s
	}
	addVideo := func(id string, source string, bitrate int, simulcast bool) error {
		if !simulcast {
			t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, id, b.cfg.Name)
			if err != nil {
				return err
			}
			s, err := b.up.AddTrack(t)
			if err != nil {
				return err
			}
			b.videoSenders = append(b.videoSenders, &sender{track: t, bitrate: bitrate, mid: source})
			b.drainRTCP(s, "")
			return nil
		}
		lo, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, id, b.cfg.Name, webrtc.WithRTPStreamID("l"))
		if err != nil {
			return err
		}
		hi, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, id, b.cfg.Name, webrtc.WithRTPStreamID("h"))
		if err != nil {
			return err
		}
		s, err := b.up.AddTrack(lo)
		if err != nil {
			return err
		}
		if err := s.AddEncoding(hi); err != nil {
			return err
		}
		b.videoSenders = append(b.videoSenders,
			&sender{track: lo, rid: "l", bitrate: bitrate / 4, mid: source},
			&sender{track: hi, rid: "h", bitrate: bitrate, mid: source})
		b.drainRTCP(s, "l")
		b.drainRTCP(s, "h")
		return nil
	}
	if b.cfg.Video {
		if err := addVideo("camera", "camera", b.cfg.VideoBitrate, b.cfg.Simulcast); err != nil {
			return err
		}
	}
	if b.cfg.Screen {
		if err := addVideo("screen", "screen", b.cfg.VideoBitrate, false); err != nil {
			return err
		}
	}
	if !b.cfg.Audio && !b.cfg.Video && !b.cfg.Screen {
		return nil
	}
	offer, err := b.up.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := b.up.SetLocalDescription(offer); err != nil {
		return err
	}
	for _, tr := range b.up.GetTransceivers() {
		s := tr.Sender()
		if s == nil || s.Track() == nil {
			continue
		}
		params := s.GetParameters()
		var midID, ridID, lvlID uint8
		for _, x := range params.HeaderExtensions {
			switch x.URI {
			case sdp.SDESMidURI:
				midID = uint8(x.ID)
			case sdp.SDESRTPStreamIDURI:
				ridID = uint8(x.ID)
			case sdp.AudioLevelURI:
				lvlID = uint8(x.ID)
			}
		}
		if s.Track().Kind() == webrtc.RTPCodecTypeAudio {
			b.audioSender.mid, b.audioSender.lvlID = tr.Mid(), lvlID
			sources[tr.Mid()] = "mic"
			continue
		}
		src := s.Track().ID()
		sources[tr.Mid()] = src
		for _, vs := range b.videoSenders {
			if vs.mid == src {
				vs.mid, vs.midID, vs.ridID = tr.Mid(), midID, ridID
			}
		}
	}
	if err := b.tr.Send("offer", map[string]any{"sdp": offer.SDP, "sources": sources}); err != nil {
		return err
	}
	b.wg.Add(1)
	go b.pump()
	return nil
}

func (b *Bot) drainRTCP(s *webrtc.RTPSender, rid string) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			var pkts []rtcp.Packet
			var err error
			if rid == "" {
				pkts, _, err = s.ReadRTCP()
			} else {
				pkts, _, err = s.ReadSimulcastRTCP(rid)
			}
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p := p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					b.forceKey.Store(true)
				case *rtcp.TransportLayerCC:
					b.twccFB.Add(1)
					b.twccAcked.Add(uint64(len(p.RecvDeltas)))
				}
			}
		}
	}()
}

// pump sends synthetic media: Opus every 20 ms, VP8 frames at FPS with a
// keyframe every 2 s or when asked.
func (b *Bot) pump() {
	defer b.wg.Done()
	audioT := time.NewTicker(20 * time.Millisecond)
	defer audioT.Stop()
	videoT := time.NewTicker(time.Second / time.Duration(b.cfg.FPS))
	defer videoT.Stop()
	var frame int
	lastKey := time.Time{}
	for {
		select {
		case <-b.quit:
			return
		case <-audioT.C:
			if b.audioSender != nil {
				b.sendAudio()
			}
		case <-videoT.C:
			key := b.forceKey.Swap(false) || time.Since(lastKey) > 2*time.Second // deadline: the camera's keyframe interval
			if key {
				lastKey = time.Now()
			}
			frame++
			b.mu.Lock()
			senders := append([]*sender(nil), b.videoSenders...)
			b.mu.Unlock()
			for _, s := range senders {
				b.sendFrame(s, key)
			}
		}
	}
}

func (b *Bot) stamp(buf []byte, s *sender) {
	copy(buf, magic[:])
	binary.BigEndian.PutUint64(buf[4:], uint64(time.Now().UnixNano()))
	s.counter++
	binary.BigEndian.PutUint32(buf[12:], s.counter)
}

func (b *Bot) sendAudio() {
	s := b.audioSender
	payload := make([]byte, 80)
	b.stamp(payload, s)
	s.seq++
	ts := uint32(time.Since(b.start).Seconds() * 48000)
	if b.cfg.RED {
		red := payload
		if s.prev != nil && ts-s.prevTS < 1<<14 {
			off, n := ts-s.prevTS, len(s.prev)
			red = append([]byte{0x80 | 111, byte(off >> 6), byte(off<<2) | byte(n>>8), byte(n), 111}, s.prev...)
		} else {
			red = []byte{111}
		}
		s.prev, s.prevTS = payload, ts
		payload = append(red, payload...)
	}
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: ts}, Payload: payload}
	if s.lvlID != 0 {
		_ = p.Header.SetExtension(s.lvlID, []byte{0x80 | uint8(b.cfg.AudioLevel)})
	}
	_ = s.track.WriteRTP(p)
}

func (b *Bot) sendFrame(s *sender, key bool) {
	size := s.bitrate / 8 / b.cfg.FPS
	if key {
		size *= 3
	}
	size = max(size, 40)
	const mtu = 1000
	ts := uint32(time.Since(b.start).Seconds() * 90000)
	for off := 0; off < size; off += mtu {
		n := min(mtu, size-off)
		payload := make([]byte, 2+max(n, 16))
		if off == 0 {
			payload[0] = 0x10 // S=1, PID=0
			if key {
				payload[1] = 0x00 // P=0: keyframe
			} else {
				payload[1] = 0x01
			}
		}
		b.stamp(payload[2:], s)
		s.seq++
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s.seq, Timestamp: ts, Marker: off+mtu >= size}, Payload: payload}
		if s.rid != "" {
			_ = p.Header.SetExtension(s.midID, []byte(s.mid))
			_ = p.Header.SetExtension(s.ridID, []byte(s.rid))
		}
		_ = s.track.WriteRTP(p)
	}
}

// RecvTrack counts what the bot receives on one down m-line.
type RecvTrack struct {
	Mid       string
	Kind      string
	SSRC      uint32
	Packets   atomic.Uint64
	SendTimes atomic.Uint64 // packets that carried abs-send-time
	Bytes     atomic.Uint64
	Frames    atomic.Uint64 // completed frames (marker bit seen)
	Keyframes atomic.Uint64
	RED       atomic.Uint64 // audio packets that came as RED
	mu        sync.Mutex
	latencies []time.Duration
	seen      map[uint16]bool
	maxSeq    int
	audio     map[uint32]bool // audio frames (timestamps) received, first-hand or from RED's redundancy
}

// AudioFrames returns how many distinct audio frames arrived, in their own
// packet or as the redundant copy in a later RED packet.
func (rt *RecvTrack) AudioFrames() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.audio)
}

func (b *Bot) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	mid := ""
	for _, tr := range b.down.GetTransceivers() {
		if tr.Receiver() == r {
			mid = tr.Mid()
		}
	}
	rt := &RecvTrack{Mid: mid, Kind: t.Kind().String(), SSRC: uint32(t.SSRC()), seen: map[uint16]bool{}, audio: map[uint32]bool{}}
	var astID, redPT uint8
	params := r.GetParameters()
	for _, x := range params.HeaderExtensions {
		if x.URI == sdp.ABSSendTimeURI {
			astID = uint8(x.ID)
		}
	}
	for _, c := range params.Codecs {
		if strings.EqualFold(c.MimeType, "audio/red") {
			redPT = uint8(c.PayloadType)
		}
	}
	b.mu.Lock()
	b.tracks[mid+"/"+fmt.Sprint(t.SSRC())] = rt
	b.mu.Unlock()
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		for {
			if _, _, err := r.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	go func() {
		defer b.wg.Done()
		buf := make([]byte, 1500)
		var h rtp.Header
		inKey := false
		for {
			n, _, err := t.Read(buf)
			if err != nil {
				return
			}
			hl, err := h.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			rt.Packets.Add(1)
			rt.Bytes.Add(uint64(n))
			if astID != 0 && len(h.GetExtension(astID)) == 3 {
				rt.SendTimes.Add(1)
			}
			if b.cfg.CountOnly {
				continue
			}
			payload := buf[hl:n]
			rt.mu.Lock()
			rt.seen[h.SequenceNumber] = true
			rt.mu.Unlock()
			if video {
				if len(payload) < 2 {
					continue
				}
				if payload[0]&0x10 != 0 {
					inKey = payload[1]&0x01 == 0
					if inKey {
						rt.Keyframes.Add(1)
					}
				}
				if h.Marker {
					rt.Frames.Add(1)
					if inKey && b.firstFrame.Load() == 0 {
						b.firstFrame.CompareAndSwap(0, int64(time.Since(b.start)))
					}
				}
				payload = payload[2:]
			} else {
				payload = rt.audioFrames(h, payload, redPT)
			}
			if len(payload) >= 16 && [4]byte(payload[:4]) == magic {
				sent := int64(binary.BigEndian.Uint64(payload[4:]))
				rt.mu.Lock()
				if len(rt.latencies) < 100000 {
					rt.latencies = append(rt.latencies, time.Duration(time.Now().UnixNano()-sent))
				}
				rt.mu.Unlock()
			}
		}
	}()
}

// Tracks returns the bot's received tracks.
func (b *Bot) Tracks() []*RecvTrack {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*RecvTrack, 0, len(b.tracks))
	for _, t := range b.tracks {
		out = append(out, t)
	}
	return out
}

// Received returns the packets received of one kind ("audio", "video").
func (b *Bot) Received(kind string) uint64 {
	var n uint64
	for _, t := range b.Tracks() {
		if t.Kind == kind {
			n += t.Packets.Load()
		}
	}
	return n
}

// Frames returns the complete video frames received.
func (b *Bot) Frames() uint64 {
	var n uint64
	for _, t := range b.Tracks() {
		n += t.Frames.Load()
	}
	return n
}

// Latencies returns every forwarding latency measured so far.
func (b *Bot) Latencies() []time.Duration {
	var out []time.Duration
	for _, t := range b.Tracks() {
		t.mu.Lock()
		out = append(out, t.latencies...)
		t.mu.Unlock()
	}
	return out
}

// UniqueSeqs returns how many distinct sequence numbers a track delivered.
func (t *RecvTrack) UniqueSeqs() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

// SeqBounds returns the lowest and highest sequence numbers received
// (ignoring wrap, fine for short tests); hi < lo when none arrived.
func (t *RecvTrack) SeqBounds() (lo, hi int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lo, hi = 1<<16, -1
	for s := range t.seen {
		lo, hi = min(lo, int(s)), max(hi, int(s))
	}
	return lo, hi
}

// SeenIn returns how many distinct sequence numbers in [lo, hi] arrived.
func (t *RecvTrack) SeenIn(lo, hi int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for s := range t.seen {
		if int(s) >= lo && int(s) <= hi {
			n++
		}
	}
	return n
}

// SeqSpan returns the number of sequence numbers from the lowest to the
// highest received (ignoring wrap, fine for short tests).
func (t *RecvTrack) SeqSpan() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	lo, hi := 1<<16, -1
	for s := range t.seen {
		lo, hi = min(lo, int(s)), max(hi, int(s))
	}
	if hi < 0 {
		return 0
	}
	return hi - lo + 1
}

// FirstFrame returns the time from Start (or creation) to the first
// complete remote keyframe, and false before one arrived.
func (b *Bot) FirstFrame() (time.Duration, bool) {
	v := b.firstFrame.Load()
	return time.Duration(v), v != 0
}

// MarkStart sets the origin of FirstFrame for a bot that does not publish.
func (b *Bot) MarkStart() { b.start = time.Now() }

// DownTracks returns the server's descriptions of the down m-lines.
func (b *Bot) DownTracks() map[string]DownTrack {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]DownTrack{}
	for k, v := range b.mids {
		out[k] = v
	}
	return out
}

// Speakers returns the last speakers message.
func (b *Bot) Speakers() (active string, speaking []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.active, append([]string(nil), b.speakers...)
}

// Quality returns the last quality message.
func (b *Bot) Quality() map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]any{}
	for k, v := range b.quality {
		out[k] = v
	}
	return out
}

// Errors returns the bot's own handling errors and the last server error
// or bye, as "error {…}" or "bye {…}".
func (b *Bot) Errors() (own []string, server string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...), b.lastErr
}

// Redirect returns the URL of a redirect message, if one came.
func (b *Bot) Redirect() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.redirect
}

// TransportFeedback returns how many transport-cc feedback packets the
// server sent the bot's publishing connection, and how many of the bot's
// packets they reported received.
func (b *Bot) TransportFeedback() (packets, acked uint64) {
	return b.twccFB.Load(), b.twccAcked.Load()
}

// OffersSeen counts the server offers the bot answered.
func (b *Bot) OffersSeen() int64 { return b.offersSeen.Load() }

// Connected reports whether both connections (or the down one for a bot
// that publishes nothing) are connected.
func (b *Bot) Connected() bool {
	down := b.down.ConnectionState() == webrtc.PeerConnectionStateConnected
	if b.cfg.Audio || b.cfg.Video || b.cfg.Screen {
		return down && b.up.ConnectionState() == webrtc.PeerConnectionStateConnected
	}
	return down
}

// UpConnected reports whether the publishing connection is connected.
func (b *Bot) UpConnected() bool {
	return b.up.ConnectionState() == webrtc.PeerConnectionStateConnected
}

// SetLoss changes the injected loss.
func (b *Bot) SetLoss(down, up float64) {
	for _, c := range b.conns {
		c.set(down, up)
	}
}

// SetREMB makes the bot report bps as its receive bandwidth estimate (a
// REMB for every stream it receives, every 500 ms, as a browser would);
// 0 stops the reports.
func (b *Bot) SetREMB(bps uint64) {
	b.remb.Store(bps)
	b.rembOnce.Do(func() {
		b.wg.Add(1)
		go b.sendREMB()
	})
}

func (b *Bot) sendREMB() {
	defer b.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.quit:
			return
		case <-t.C:
		}
		bps := b.remb.Load()
		if bps == 0 {
			continue
		}
		var ssrcs []uint32
		for _, rt := range b.Tracks() {
			ssrcs = append(ssrcs, rt.SSRC)
		}
		if len(ssrcs) > 0 {
			_ = b.down.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(bps), SSRCs: ssrcs}})
		}
	}
}

// StopScreen withdraws the screen share (re-offers without it).
func (b *Bot) StopScreen() error {
	return b.removeVideo("screen")
}

// StartScreen adds a screen share mid-call and re-offers.
func (b *Bot) StartScreen() error {
	t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "screen", b.cfg.Name)
	if err != nil {
		return err
	}
	s, err := b.up.AddTrack(t)
	if err != nil {
		return err
	}
	b.drainRTCP(s, "")
	vs := &sender{track: t, bitrate: b.cfg.VideoBitrate}
	return b.reoffer(func(mid string) {
		vs.mid = mid
		b.mu.Lock()
		b.videoSenders = append(b.videoSenders, vs)
		b.mu.Unlock()
	}, s)
}

func (b *Bot) removeVideo(id string) error {
	for _, tr := range b.up.GetTransceivers() {
		s := tr.Sender()
		if s != nil && s.Track() != nil && s.Track().ID() == id {
			b.mu.Lock()
			keep := b.videoSenders[:0]
			for _, vs := range b.videoSenders {
				if vs.track != s.Track() {
					keep = append(keep, vs)
				}
			}
			b.videoSenders = keep
			b.mu.Unlock()
			if err := b.up.RemoveTrack(s); err != nil {
				return err
			}
			return b.reoffer(nil, nil)
		}
	}
	return errors.New("no such track")
}

func (b *Bot) reoffer(onMid func(string), s *webrtc.RTPSender) error {
	offer, err := b.up.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := b.up.SetLocalDescription(offer); err != nil {
		return err
	}
	sources := map[string]string{}
	for _, tr := range b.up.GetTransceivers() {
		if tr.Sender() != nil && tr.Sender().Track() != nil {
			id := tr.Sender().Track().ID()
			if id == "audio" {
				id = "mic"
			}
			sources[tr.Mid()] = id
			if tr.Sender() == s && onMid != nil {
				onMid(tr.Mid())
			}
		}
	}
	return b.tr.Send("offer", map[string]any{"sdp": offer.SDP, "sources": sources})
}

// Close closes the bot's connections and waits for its goroutines.
func (b *Bot) Close() {
	b.once.Do(func() {
		close(b.quit)
		_ = b.up.GracefulClose()
		_ = b.down.GracefulClose()
		b.wg.Wait()
		b.closeSockets()
	})
}

func (b *Bot) closeSockets() {
	for _, m := range b.muxes {
		_ = m.Close()
	}
	for _, c := range b.conns {
		_ = c.Close()
	}
}

// lossyConn drops a fraction of RTP packets in either direction. STUN,
// DTLS and RTCP pass, so the connection itself comes up reliably.
type lossyConn struct {
	*net.UDPConn
	mu       sync.Mutex
	down, up float64

	delay     time.Duration // outgoing RTP is held this long
	delayed   chan delayedPacket
	closeOnce sync.Once
	done      chan struct{}
}

func newLossyConn(pc *net.UDPConn, down, up float64, delay time.Duration) *lossyConn {
	c := &lossyConn{UDPConn: pc, down: down, up: up, delay: delay, done: make(chan struct{})}
	if delay > 0 {
		c.delayed = make(chan delayedPacket, 4096)
		go c.sendDelayed()
	}
	return c
}

type delayedPacket struct {
	at   time.Time
	b    []byte
	addr net.Addr
}

func (c *lossyConn) set(down, up float64) {
	c.mu.Lock()
	c.down, c.up = down, up
	c.mu.Unlock()
}

func isRTP(b []byte) bool {
	// RFC 7983: 128..191 is RTP/RTCP; RTCP packet types are 192..223 in byte 1.
	return len(b) > 12 && b[0] >= 128 && b[0] <= 191 && (b[1]&0x7f < 64 || b[1]&0x7f > 95)
}

func (c *lossyConn) drop(b []byte, down bool) bool {
	c.mu.Lock()
	f := c.up
	if down {
		f = c.down
	}
	c.mu.Unlock()
	return f > 0 && isRTP(b) && rand.Float64() < f
}

func (c *lossyConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.UDPConn.ReadFrom(p)
		if err != nil || !c.drop(p[:n], true) {
			return n, a, err
		}
	}
}

func (c *lossyConn) WriteTo(p []byte, a net.Addr) (int, error) {
	if c.drop(p, false) {
		return len(p), nil
	}
	if c.delay > 0 && isRTP(p) {
		select {
		case c.delayed <- delayedPacket{at: time.Now().Add(c.delay), b: append([]byte(nil), p...), addr: a}:
		case <-c.done:
			return 0, net.ErrClosed
		default: // the link's queue is full: the packet is lost
		}
		return len(p), nil
	}
	return c.UDPConn.WriteTo(p, a)
}

// sendDelayed sends the held packets in order, each at its time.
func (c *lossyConn) sendDelayed() {
	for {
		select {
		case d := <-c.delayed:
			select {
			case <-time.After(time.Until(d.at)):
			case <-c.done:
				return
			}
			_, _ = c.UDPConn.WriteTo(d.b, d.addr)
		case <-c.done:
			return
		}
	}
}

// Close also stops the delayed sender.
func (c *lossyConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return c.UDPConn.Close()
}

// quietLogger discards Pion's logs: bots close abruptly on purpose.
type quietLogger struct{}

func (quietLogger) NewLogger(string) logging.LeveledLogger { return quietLog{} }

type quietLog struct{}

func (quietLog) Trace(string)          {}
func (quietLog) Tracef(string, ...any) {}
func (quietLog) Debug(string)          {}
func (quietLog) Debugf(string, ...any) {}
func (quietLog) Info(string)           {}
func (quietLog) Infof(string, ...any)  {}
func (quietLog) Warn(string)           {}
func (quietLog) Warnf(string, ...any)  {}
func (quietLog) Error(string)          {}
func (quietLog) Errorf(string, ...any) {}

// StartedAt returns the origin of FirstFrame.
func (b *Bot) StartedAt() time.Time { return b.start }

// audioFrames records the audio frames a packet brings (its own, and with
// RED the redundant earlier ones) and returns the packet's own Opus frame
// (nil when a RED payload is malformed).
func (rt *RecvTrack) audioFrames(h rtp.Header, payload []byte, redPT uint8) []byte {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if redPT == 0 || h.PayloadType != redPT {
		rt.audio[h.Timestamp] = true
		return payload
	}
	rt.RED.Add(1)
	off, redundant := 0, 0
	var offsets []uint32 // timestamp offsets of the redundant blocks
	for off < len(payload) && payload[off]&0x80 != 0 {
		if off+4 > len(payload) {
			return nil
		}
		offsets = append(offsets, uint32(payload[off+1])<<6|uint32(payload[off+2])>>2)
		redundant += int(payload[off+2]&0x03)<<8 | int(payload[off+3])
		off += 4
	}
	if off >= len(payload) || off+1+redundant > len(payload) {
		return nil
	}
	rt.audio[h.Timestamp] = true
	for _, o := range offsets {
		rt.audio[h.Timestamp-o] = true
	}
	return payload[off+1+redundant:]
}
