package sfu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

type kind uint8

const (
	kindAudio kind = iota
	kindVideo
)

// keyframeInterval is the minimum time between two keyframe requests to one
// publisher layer.
const keyframeInterval = 500 * time.Millisecond

// layerLive is how recently a layer must have sent a packet to be chosen.
const layerLive = 1500 * time.Millisecond

// packet is one received RTP packet, shared read-only by every subscriber's
// writer. Nothing may modify it after forward.
type packet struct {
	hdr      rtp.Header
	payload  []byte
	ext      uint64 // sequence number extended to 64 bits, per layer
	layer    int8
	keyframe bool // first packet of a VP8 keyframe; every audio packet
	padOnly  bool
	red      bool  // audio in RED (primary and redundant Opus frames)
	arrival  int64 // unix nanoseconds
}

// publication is one track a participant publishes: one or two simulcast
// layers, and the subscribers' downTracks.
type publication struct {
	id     string
	seq    uint64 // creation order within the engine
	owner  *Participant
	mid    string
	kind   kind
	source Source
	muted  atomic.Bool
	meter  levelMeter

	subsMu sync.Mutex                   // serialises updates of subs
	subs   atomic.Pointer[[]*downTrack] // copy-on-write, read per packet

	mu     sync.Mutex
	rids   []string    // declared simulcast rids, or one ""
	layers [2]*upLayer // by quality: 0 low, 1 high
	closed bool
}

var pubSeq atomic.Uint64

func newPublication(owner *Participant, mid string, k kind, src Source, rids []string) *publication {
	if len(rids) == 0 {
		rids = []string{""}
	}
	return &publication{
		id: owner.info.ID + "-" + mid, seq: pubSeq.Add(1), owner: owner,
		mid: mid, kind: k, source: src, rids: rids,
	}
}

func (pub *publication) kindString() string {
	if pub.kind == kindAudio {
		return "audio"
	}
	return "video"
}

// layerIndex maps a rid to a layer slot, or -1 for a rid that is not
// forwarded (a middle layer of a three-layer publisher).
func (pub *publication) layerIndex(rid string) int {
	if len(pub.rids) <= 1 {
		return 0
	}
	rank := func(r string) int {
		switch r {
		case "l", "low", "q", "quarter":
			return 0
		case "h", "high", "f", "full":
			return 2
		}
		return 1
	}
	lo, hi := pub.rids[0], pub.rids[0]
	for _, r := range pub.rids[1:] {
		if rank(r) < rank(lo) {
			lo = r
		}
		if rank(r) >= rank(hi) {
			hi = r
		}
	}
	switch rid {
	case lo:
		return 0
	case hi:
		return 1
	}
	return -1
}

// resolve returns the layer to send a subscriber who wants layer want
// (-1 off): the best live layer not above want, else the closest above.
func (pub *publication) resolve(want int) int {
	if want < 0 {
		return -1
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	now := time.Now().UnixNano()
	live := func(i int) bool {
		l := pub.layers[i]
		return l != nil && now-l.lastPacket.Load() < int64(layerLive)
	}
	for i := want; i >= 0; i-- {
		if live(i) {
			return i
		}
	}
	for i := want + 1; i < len(pub.layers); i++ {
		if live(i) {
			return i
		}
	}
	for i := want; i >= 0; i-- {
		if pub.layers[i] != nil {
			return i
		}
	}
	for i := want + 1; i < len(pub.layers); i++ {
		if pub.layers[i] != nil {
			return i
		}
	}
	return want
}

// upExt is the header extension ids a publisher's stream carries; 0 for
// one not negotiated.
type upExt struct {
	level uint8 // RFC 6464 audio level
	twcc  uint8 // transport-wide sequence number
}

// attach adds a received layer; it returns nil when the slot is taken or
// the publication is closed.
func (pub *publication) attach(idx int, rid string, track *webrtc.TrackRemote, ext upExt, redPT uint8) *upLayer {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.closed || idx < 0 || idx >= len(pub.layers) || pub.layers[idx] != nil {
		return nil
	}
	l := &upLayer{pub: pub, idx: idx, rid: rid, track: track, ssrc: uint32(track.SSRC()), levelID: ext.level, twccID: ext.twcc, redPT: redPT}
	pub.layers[idx] = l
	return l
}

func (pub *publication) layer(i int) *upLayer {
	if i < 0 || i >= len(pub.layers) {
		return nil
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	return pub.layers[i]
}

func (pub *publication) addSub(dt *downTrack) {
	pub.subsMu.Lock()
	defer pub.subsMu.Unlock()
	var next []*downTrack
	if old := pub.subs.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, dt)
	pub.subs.Store(&next)
}

func (pub *publication) removeSub(dt *downTrack) {
	pub.subsMu.Lock()
	defer pub.subsMu.Unlock()
	old := pub.subs.Load()
	if old == nil {
		return
	}
	next := make([]*downTrack, 0, len(*old))
	for _, d := range *old {
		if d != dt {
			next = append(next, d)
		}
	}
	pub.subs.Store(&next)
}

// forward hands p to every subscriber that wants its layer. It never blocks.
func (pub *publication) forward(p *packet) {
	subs := pub.subs.Load()
	if subs == nil {
		return
	}
	if len(*subs) > pub.owner.e.cfg.ParallelFanout {
		pub.owner.e.fan.submit(p, *subs, pub.seq)
		return
	}
	for _, dt := range *subs {
		if dt.wants(p.layer) {
			dt.write(p)
		}
	}
}

// requestKeyframe asks the publisher for a keyframe on layer i.
func (pub *publication) requestKeyframe(i int) {
	if pub.kind != kindVideo {
		return
	}
	if l := pub.layer(i); l != nil {
		l.requestKeyframe()
	}
}

func (pub *publication) close() {
	pub.mu.Lock()
	pub.closed = true
	layers := pub.layers
	pub.mu.Unlock()
	for _, l := range layers {
		if l != nil {
			l.stopTimer()
		}
	}
	pub.subsMu.Lock()
	pub.subs.Store(nil)
	pub.subsMu.Unlock()
}

// upLayer is one received RTP stream (a simulcast layer, or the only one).
type upLayer struct {
	pub     *publication
	idx     int
	rid     string
	track   *webrtc.TrackRemote
	ssrc    uint32
	levelID uint8 // audio-level extension id, 0 when not negotiated
	twccID  uint8 // transport-cc extension id, 0 when not negotiated
	redPT   uint8 // the publisher's payload type of RED audio, 0 when not negotiated

	packets, bytes, keyframes, plis atomic.Uint64
	red                             atomic.Uint64 // audio packets that came as RED
	lastPacket                      atomic.Int64  // unix nanoseconds
	highest                         atomic.Uint64
	bitrate                         atomic.Uint64 // bits/s over the last tick

	// owned by the publisher's tick
	prevBytes, prevHighest, prevPackets uint64
	loss                                float64

	kfMu     sync.Mutex
	lastPLI  time.Time
	pliTimer *time.Timer
	stopped  bool
}

// readLoop reads the layer until its track ends.
func (l *upLayer) readLoop() {
	var last uint64
	started := false
	video := l.pub.kind == kindVideo
	rbuf := make([]byte, 1500)
	owner := l.pub.owner
	batch := owner.e.batch
	tw := owner.twcc
	var nr nackRequester
	for {
		n, _, err := l.track.Read(rbuf)
		if err != nil {
			return
		}
		arrival := time.Now().UnixNano()
		// Each packet gets its own exact-size copy: subscribers' NACK
		// histories keep it alive, and most packets are far below 1500 bytes.
		buf := append([]byte(nil), rbuf[:n]...)
		p := &packet{layer: int8(l.idx)}
		hl, err := p.hdr.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		if l.twccID != 0 { // padding-only probes count too: they are how the browser probes
			if x := p.hdr.GetExtension(l.twccID); len(x) >= 2 {
				tw.record(p.hdr.SSRC, binary.BigEndian.Uint16(x), arrival)
			}
		}
		end := n
		if p.hdr.Padding {
			pad := int(buf[n-1])
			if pad == 0 || pad > n-hl {
				continue
			}
			end -= pad
		}
		p.payload = buf[hl:end:end]
		p.padOnly = len(p.payload) == 0
		if !started {
			last, started = 1<<32+uint64(p.hdr.SequenceNumber), true
			p.ext = last
		} else {
			p.ext = uint64(int64(last) + int64(int16(p.hdr.SequenceNumber-uint16(last))))
			if p.ext > last {
				last = p.ext
			}
		}
		if video {
			if seqs := nr.onPacket(p.ext, arrival, time.Duration(owner.rttNs.Load())); seqs != nil {
				_ = owner.up.WriteRTCP([]rtcp.Packet{nackPacket(owner.rtcpSSRC, l.ssrc, seqs)})
			}
			if !p.padOnly && vp8Keyframe(p.payload) {
				p.keyframe = true
				l.keyframes.Add(1)
			}
		} else {
			p.keyframe = true
			if p.red = l.redPT != 0 && p.hdr.PayloadType == l.redPT; p.red {
				l.red.Add(1)
			}
			if l.levelID != 0 {
				if lv, ok := parseAudioLevel(p.hdr.GetExtension(l.levelID)); ok {
					l.pub.meter.add(lv)
				}
			}
		}
		p.arrival = arrival
		l.packets.Add(1)
		l.bytes.Add(uint64(n))
		l.highest.Store(last)
		l.lastPacket.Store(p.arrival)
		batch.hold()
		l.pub.forward(p)
		batch.release()
	}
}

// requestKeyframe sends a PLI to the publisher at most once per
// keyframeInterval; a request inside the interval is sent when it ends.
func (l *upLayer) requestKeyframe() {
	l.kfMu.Lock()
	defer l.kfMu.Unlock()
	if l.stopped {
		return
	}
	since := time.Since(l.lastPLI)
	if since < keyframeInterval {
		if l.pliTimer == nil {
			l.pliTimer = time.AfterFunc(keyframeInterval-since, func() {
				l.kfMu.Lock()
				l.pliTimer = nil
				l.kfMu.Unlock()
				l.requestKeyframe()
			})
		}
		return
	}
	l.lastPLI = time.Now()
	l.plis.Add(1)
	_ = l.pub.owner.up.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
}

func (l *upLayer) stopTimer() {
	l.kfMu.Lock()
	defer l.kfMu.Unlock()
	l.stopped = true
	if l.pliTimer != nil {
		l.pliTimer.Stop()
		l.pliTimer = nil
	}
}

// tick updates the layer's bitrate and loss; called once per second by the
// owner's loop.
func (l *upLayer) tick(dt time.Duration) {
	b := l.bytes.Load()
	l.bitrate.Store(uint64(float64(b-l.prevBytes) * 8 / dt.Seconds()))
	l.prevBytes = b
	h, n := l.highest.Load(), l.packets.Load()
	if l.prevHighest != 0 && h > l.prevHighest {
		expected := float64(h - l.prevHighest)
		got := float64(n - l.prevPackets)
		l.loss = max(0, 1-got/expected)
	} else {
		l.loss = 0
	}
	l.prevHighest, l.prevPackets = h, n
}
