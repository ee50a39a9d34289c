package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// downTrack is one publication as sent to one subscriber. It implements
// webrtc.TrackLocal so that each subscriber has its own SSRC, sequence
// numbers and timestamps, and so can be switched between simulcast layers
// on its own.
//
// The munging state below "writer-owned" is touched only by the
// subscriber's writer goroutine.
type downTrack struct {
	pub *publication
	sub *Participant

	target atomic.Int32 // wanted layer, -1 off; set by the subscriber's loop
	cur    atomic.Int32 // layer being sent, -1 none; mirrored for readers
	kick   atomic.Bool  // congestion drop: restart at the next keyframe

	mu    sync.Mutex // guards the binding
	ws    webrtc.TrackLocalWriter
	ssrc  uint32
	pt    uint8
	redPT uint8 // the subscriber's payload type of RED audio, 0: it gets Opus only
	astID uint8 // abs-send-time extension id, 0 when not negotiated
	codec webrtc.RTPCodecParameters

	bound atomic.Bool

	sender      *webrtc.RTPSender
	transceiver *webrtc.RTPTransceiver
	fresh       bool // added in the negotiation now in flight (loop-owned)

	packets, bytes, drops, nacks, plis, rtx atomic.Uint64
	red                                     atomic.Uint64 // audio packets sent as RED
	// lost counts the packets this subscriber reported missing, each once:
	// the first NACK of a packet that was sent. Pion's NACK generator asks
	// for a missing packet again every 100 ms until it arrives, and it also
	// asks for packets the publisher's uplink lost (not yet sent, or never
	// to be sent after a layer switch), so the raw nacks count is no measure
	// of the downlink's loss.
	lost       atomic.Uint64
	firstWrite atomic.Int64 // unix ns of the first packet sent

	// guarded by wmu: the munging state, written by whichever goroutine
	// forwards the packet (a layer's reader, or a fan-out worker)
	wmu       sync.Mutex
	started   bool
	curLayer  int
	lastLayer int    // the layer of the epoch before, for the VP8 indexes
	waitLayer int    // the layer waited for a keyframe of, -1 none yet
	waitTop   uint64 // the highest extended seq of waitLayer seen while waiting
	epoch     uint64 // first extended seq of the current layer epoch
	lastIn    uint64
	seqBase   uint64 // out = in + seqBase - skipsBefore(in)
	skips     []uint64
	lastOut   uint64
	tsOff     uint32
	lastTS    uint32
	lastTSAt  int64 // unix ns the first packet with lastTS arrived
	lastWrite int64
	srPackets uint32 // RTP packets and payload octets sent, for sender reports
	srOctets  uint32
	clock     uint32
	hdr       rtp.Header
	ext       [1]rtp.Extension  // hdr's extensions, kept so that stamping never allocates
	ast       [3]byte           // the abs-send-time value hdr carries
	pic, tl0  vp8Index          // VP8 PictureID and TL0PICIDX, continued across layers
	scratch   []byte            // a payload whose descriptor was rewritten (the packet's is shared)
	hist      [historySize]sent // what was sent, by outgoing sequence number, for NACKs
}

// historySize is how many sent packets each downTrack can repeat on NACK
// (a power of two). The packets themselves are shared with every other
// subscriber of the publication; the history only holds references.
const historySize = 512

// sent is one packet as it went to this subscriber.
type sent struct {
	p      *packet
	seq    uint16
	pic    uint16 // the VP8 PictureID sent, when rewritten
	ts     uint32
	tl0    uint8 // the VP8 TL0PICIDX sent, when rewritten
	vp8    bool  // the VP8 descriptor was rewritten
	nacked bool  // the subscriber has asked for it again at least once
}

// maxRetransmitBurst caps the packets one NACK is answered with. Only
// packets actually sent again count: a NACK list that starts with many
// packets the history cannot repeat (lost on the publisher's uplink, or
// too old) must not crowd out the ones it can.
const maxRetransmitBurst = 64

// retransmit answers a NACK from the subscriber with the packets still in
// the history, exactly as they were first sent.
func (dt *downTrack) retransmit(seqs []uint16) {
	dt.wmu.Lock()
	defer dt.wmu.Unlock()
	dt.mu.Lock()
	ws, ssrc, pt, astID, redPT := dt.ws, dt.ssrc, dt.pt, dt.astID, dt.redPT
	dt.mu.Unlock()
	if ws == nil {
		return
	}
	batch := dt.pub.owner.e.batch
	batch.hold()
	defer batch.release()
	repeated := 0
	for _, seq := range seqs {
		if repeated == maxRetransmitBurst {
			break // the rest waits for the next NACK
		}
		e := &dt.hist[seq%historySize]
		if e.p == nil || e.seq != seq {
			continue // never sent, or too old: nothing to repeat
		}
		repeated++
		if !e.nacked {
			e.nacked = true
			dt.lost.Add(1)
		}
		payload, ptOut := e.p.payload, pt
		if e.p.red {
			var ok bool
			if ptOut, payload, ok = redFor(payload, pt, redPT); !ok {
				continue
			}
		}
		dt.hdr = rtp.Header{Version: 2, Marker: e.p.hdr.Marker, PayloadType: ptOut, SequenceNumber: seq,
			Timestamp: e.ts, SSRC: ssrc, CSRC: e.p.hdr.CSRC}
		dt.stampSendTime(astID)
		if e.vp8 {
			d, _ := parseVP8Desc(payload) // it parsed when first sent
			payload = dt.rewritten(payload, d, e.pic, e.tl0)
		}
		if _, err := ws.WriteRTP(&dt.hdr, payload); err == nil {
			dt.rtx.Add(1)
			dt.srPackets++
			dt.srOctets += uint32(len(payload))
		}
	}
}

func newDownTrack(pub *publication, sub *Participant) *downTrack {
	dt := &downTrack{pub: pub, sub: sub, curLayer: -1, waitLayer: -1}
	dt.cur.Store(-1)
	dt.target.Store(-1)
	if pub.kind == kindAudio {
		dt.target.Store(0)
		dt.clock = 48000
	} else {
		dt.clock = 90000
	}
	return dt
}

// ID implements webrtc.TrackLocal: the publication id.
func (dt *downTrack) ID() string { return dt.pub.id }

// RID implements webrtc.TrackLocal.
func (dt *downTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal: the publishing participant, so a
// browser groups its audio and camera in one MediaStream.
func (dt *downTrack) StreamID() string { return dt.pub.owner.info.ID }

// Kind implements webrtc.TrackLocal.
func (dt *downTrack) Kind() webrtc.RTPCodecType {
	if dt.pub.kind == kindAudio {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// Bind implements webrtc.TrackLocal; Pion calls it once the subscriber's
// answer is applied.
func (dt *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := webrtc.MimeTypeVP8
	if dt.pub.kind == kindAudio {
		want = webrtc.MimeTypeOpus
	}
	var astID uint8
	for _, x := range ctx.HeaderExtensions() {
		if x.URI == sdp.ABSSendTimeURI && x.ID > 0 && x.ID < 15 {
			astID = uint8(x.ID)
		}
	}
	var redPT uint8
	var codec *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		switch {
		case dt.pub.kind == kindAudio && strings.EqualFold(c.MimeType, mimeRED):
			redPT = uint8(c.PayloadType)
		case codec == nil && strings.EqualFold(c.MimeType, want):
			codec = &c
		}
	}
	if codec == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	dt.mu.Lock()
	dt.ws, dt.ssrc, dt.pt, dt.codec = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(codec.PayloadType), *codec
	dt.astID, dt.redPT = astID, redPT
	dt.mu.Unlock()
	dt.bound.Store(true)
	return *codec, nil
}

// Unbind implements webrtc.TrackLocal.
func (dt *downTrack) Unbind(webrtc.TrackLocalContext) error {
	dt.bound.Store(false)
	dt.mu.Lock()
	dt.ws = nil
	dt.mu.Unlock()
	return nil
}

// wants is the reader-side filter: is a packet of this layer useful?
func (dt *downTrack) wants(layer int8) bool {
	l := int32(layer)
	return l == dt.cur.Load() || l == dt.target.Load()
}

// setTarget is called by the subscriber's loop when the layer it should
// receive changes; switching happens at the next keyframe of that layer.
func (dt *downTrack) setTarget(layer int) {
	if int(dt.target.Swap(int32(layer))) != layer && layer >= 0 {
		dt.pub.requestKeyframe(layer)
	}
}

// dropped counts a packet the fan-out could not take; video restarts at
// the next keyframe.
func (dt *downTrack) dropped(p *packet) {
	dt.drops.Add(1)
	dt.sub.dropped.Add(1)
	if dt.pub.kind == kindVideo {
		dt.kick.Store(true)
	}
}

// requestKeyframe asks the publisher of the layer being sent (or wanted)
// for a keyframe, through its throttle.
func (dt *downTrack) requestKeyframe() {
	l := int(dt.cur.Load())
	if l < 0 {
		l = int(dt.target.Load())
	}
	if l >= 0 {
		dt.pub.requestKeyframe(l)
	}
}

// write sends p to the subscriber, choosing, switching and renumbering
// layers. It never blocks for long.
func (dt *downTrack) write(p *packet) {
	if !dt.bound.Load() || !dt.sub.downConnected.Load() {
		return // not negotiated or not connected yet: the first keyframe comes after
	}
	dt.wmu.Lock()
	defer dt.wmu.Unlock()
	target := int(dt.target.Load())
	if target < 0 {
		if dt.curLayer >= 0 {
			dt.curLayer = -1
			dt.cur.Store(-1)
		}
		return
	}
	if dt.kick.Swap(false) && dt.pub.kind == kindVideo {
		dt.curLayer = -1 // a congestion drop broke the frame: restart at a keyframe
		dt.cur.Store(-1)
		dt.pub.requestKeyframe(target)
	}
	layer := int(p.layer)
	if layer != dt.curLayer {
		if layer != target {
			return
		}
		// Waiting for a keyframe of the target layer. One whose first
		// packet comes after packets that follow it (a repair of the
		// publisher's uplink, or reordered) cannot start the stream: those
		// went by while waiting, were never sent, and the subscriber would
		// ask for them in vain for as long as its NACK window lasts.
		late := dt.waitLayer == layer && p.ext < dt.waitTop
		if dt.waitLayer != layer || p.ext > dt.waitTop {
			dt.waitLayer, dt.waitTop = layer, p.ext
		}
		if !p.keyframe {
			return
		}
		if late {
			dt.pub.requestKeyframe(layer)
			return
		}
		dt.startEpoch(p)
	} else if p.ext < dt.epoch {
		return // from before the switch
	}
	if p.padOnly {
		if p.ext > dt.lastIn {
			dt.skips = append(dt.skips, p.ext)
			if len(dt.skips) > 64 {
				dt.skips = dt.skips[len(dt.skips)-64:]
			}
			dt.lastIn = p.ext
		}
		return
	}
	out := p.ext + dt.seqBase - dt.skipsBefore(p.ext)
	if p.ext > dt.lastIn {
		dt.lastIn = p.ext
	}
	if out > dt.lastOut {
		dt.lastOut = out
	}
	dt.mu.Lock()
	ws, ssrc, pt, astID, redPT := dt.ws, dt.ssrc, dt.pt, dt.astID, dt.redPT
	dt.mu.Unlock()
	if ws == nil {
		return
	}
	payload := p.payload
	if p.red {
		var ok bool
		if pt, payload, ok = redFor(payload, pt, redPT); !ok {
			return // not RED after all: nothing a decoder could use
		}
	}
	h := &dt.hdr // Pion encrypts it before WriteRTP returns
	*h = rtp.Header{
		Version:        2,
		Marker:         p.hdr.Marker,
		PayloadType:    pt,
		SequenceNumber: uint16(out),
		Timestamp:      p.hdr.Timestamp + dt.tsOff,
		SSRC:           ssrc,
		CSRC:           p.hdr.CSRC,
	}
	dt.stampSendTime(astID)
	e := sent{p: p, seq: uint16(out), ts: h.Timestamp}
	if dt.pub.kind == kindVideo {
		payload = dt.renumberVP8(payload, &e)
	}
	dt.hist[e.seq%historySize] = e
	if ts := h.Timestamp; int32(ts-dt.lastTS) > 0 || dt.lastWrite == 0 {
		dt.lastTS, dt.lastTSAt = ts, p.arrival
	}
	if _, err := ws.WriteRTP(h, payload); err != nil {
		return
	}
	dt.srPackets++
	dt.srOctets += uint32(len(payload))
	if p.red && redPT != 0 {
		dt.red.Add(1)
	}
	dt.lastWrite = p.arrival
	if dt.packets.Add(1) == 1 {
		dt.firstWrite.Store(time.Now().UnixNano())
	}
	dt.bytes.Add(uint64(len(payload) + 12))
}

// senderReport is the RTCP sender report for what the subscriber has been
// sent, as of now (unix ns), or nil before anything was. Its RTP time is
// the newest frame's timestamp advanced by the time since that frame
// arrived, so that the subscriber can line audio up with video.
func (dt *downTrack) senderReport(now int64) *rtcp.SenderReport {
	dt.mu.Lock()
	ssrc := dt.ssrc
	dt.mu.Unlock()
	dt.wmu.Lock()
	defer dt.wmu.Unlock()
	if dt.srPackets == 0 {
		return nil
	}
	elapsed := max(0, now-dt.lastTSAt)
	return &rtcp.SenderReport{
		SSRC:        ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     dt.lastTS + uint32(elapsed*int64(dt.clock)/1e9),
		PacketCount: dt.srPackets,
		OctetCount:  dt.srOctets,
	}
}

// redFor is what a RED audio packet becomes for a subscriber: RED as it
// came, with the subscriber's RED payload type redPT, when it negotiated
// RED; else the primary Opus frame with opusPT.
func redFor(payload []byte, opusPT, redPT uint8) (uint8, []byte, bool) {
	if redPT != 0 {
		return redPT, payload, true
	}
	primary, ok := redPrimary(payload)
	return opusPT, primary, ok
}

// startEpoch begins sending layer p.layer at keyframe p, continuing the
// outgoing sequence numbers and timestamps without a gap.
func (dt *downTrack) startEpoch(p *packet) {
	now := p.arrival
	dt.epoch = p.ext
	dt.lastIn = p.ext - 1
	dt.skips = dt.skips[:0]
	same := dt.started && dt.lastLayer == int(p.layer)
	dt.pic.newEpoch(same)
	dt.tl0.newEpoch(same)
	dt.lastLayer = int(p.layer)
	if !dt.started {
		dt.started = true
		dt.seqBase = 0
		dt.lastOut = p.ext - 1
		dt.tsOff = 0
	} else {
		dt.seqBase = dt.lastOut + 1 - p.ext
		gap := uint32(1)
		if dt.lastWrite != 0 {
			gap = max(1, uint32(float64(now-dt.lastWrite)/1e9*float64(dt.clock)))
		}
		dt.tsOff = dt.lastTS + gap - p.hdr.Timestamp
	}
	dt.curLayer = int(p.layer)
	dt.cur.Store(int32(p.layer))
}

// renumberVP8 continues the PictureID and TL0PICIDX of a VP8 payload
// across layer switches, and records what it sent in e. It returns the
// payload to send: the packet's own while nothing changes (the first layer
// sent), else a rewritten copy in the downTrack's scratch buffer.
func (dt *downTrack) renumberVP8(payload []byte, e *sent) []byte {
	d, ok := parseVP8Desc(payload)
	if !ok || (d.picAt == 0 && d.tl0At == 0) {
		return payload
	}
	unchanged := true
	if d.picAt != 0 {
		in, bits := d.picture(payload)
		e.pic = dt.pic.next(in, bits)
		unchanged = e.pic == in
	}
	if d.tl0At != 0 {
		in := payload[d.tl0At]
		e.tl0 = uint8(dt.tl0.next(uint16(in), 8))
		unchanged = unchanged && e.tl0 == in
	}
	if unchanged {
		return payload
	}
	e.vp8 = true
	return dt.rewritten(payload, d, e.pic, e.tl0)
}

// rewritten copies payload into the scratch buffer with pic and tl0 in its
// descriptor (d, as parsed from payload).
func (dt *downTrack) rewritten(payload []byte, d vp8Desc, pic uint16, tl0 uint8) []byte {
	if dt.scratch == nil {
		dt.scratch = make([]byte, 0, 1500)
	}
	dt.scratch = append(dt.scratch[:0], payload...)
	d.rewrite(dt.scratch, pic, tl0)
	return dt.scratch
}

// stampSendTime adds the abs-send-time extension (RFC 5285 one-byte form,
// extension id) to dt.hdr, from the downTrack's own buffers: the
// subscriber's browser estimates its downlink from these times and reports
// the estimate in REMB. It allocates nothing.
func (dt *downTrack) stampSendTime(id uint8) {
	if id == 0 {
		return
	}
	// Receivers use only differences between send times, so any clock
	// will do if all the subscriber's streams share it: its monotonic
	// time since joining, cheaper to read than the wall clock.
	t := absSendTime(int64(time.Since(dt.sub.joinedAt)))
	dt.ast = [3]byte{byte(t >> 16), byte(t >> 8), byte(t)}
	dt.hdr.Extensions = dt.ext[:0]
	_ = dt.hdr.SetExtension(id, dt.ast[:]) // appends within ext's capacity
}

// absSendTime is a time in nanoseconds as the abs-send-time extension
// carries it: seconds in 6.18 fixed point, modulo 64 s.
func absSendTime(ns int64) uint32 {
	const wrap = 64 * 1e9
	return uint32(uint64(ns)%wrap<<18/1e9) & 0xffffff
}

func (dt *downTrack) skipsBefore(ext uint64) uint64 {
	var n uint64
	for _, s := range dt.skips {
		if s < ext {
			n++
		}
	}
	return n
}

// rtcpLoop reads the subscriber's feedback for this track until the sender
// stops: PLI/FIR become keyframe requests, receiver reports feed the link
// estimate. Reading is also what lets Pion's NACK responder work.
func (dt *downTrack) rtcpLoop() {
	dt.mu.Lock()
	ssrc := dt.ssrc
	dt.mu.Unlock()
	var lastSeq uint32 // the highest sequence number the previous report gave
	reported := false
	for {
		pkts, _, err := dt.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch r := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				dt.plis.Add(1)
				dt.requestKeyframe()
			case *rtcp.ReceiverReport:
				for _, rep := range r.Reports {
					if ssrc == 0 {
						dt.mu.Lock()
						ssrc = dt.ssrc
						dt.mu.Unlock()
					}
					if rep.SSRC == ssrc {
						dt.sub.link.report(rep, !reported || rep.LastSequenceNumber != lastSeq)
						lastSeq, reported = rep.LastSequenceNumber, true
					}
				}
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				dt.sub.link.remb(uint64(r.Bitrate))
			case *rtcp.TransportLayerNack:
				var seqs []uint16
				for _, n := range r.Nacks {
					seqs = append(seqs, n.PacketList()...)
				}
				dt.nacks.Add(uint64(len(seqs)))
				dt.retransmit(seqs)
			}
		}
	}
}
