package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// answerTimeout is how long a client may take to answer a server offer.
const answerTimeout = 20 * time.Second

// maxPublications caps what one participant may publish.
const maxPublications = 4

// PeerInfo identifies a participant.
type PeerInfo struct {
	ID        string // unique within the Engine, e.g. a connection id
	Ref       int64  // the caller's reference, e.g. an invitee id
	Name      string
	AudioOnly bool // receive no video (the participant's choice)
	DataSaver bool // receive cameras on their low layer at most (the participant's choice)
}

// ProtocolError is a client mistake (bad SDP, unexpected answer, bad
// candidate). The connection survives it; repeated ones should close it.
type ProtocolError struct {
	Code    string
	Message string
}

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Message }

func protoErr(code, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Participant is one client in a room. Its PeerConnections and negotiation
// state are owned by its loop goroutine; the exported methods post work to
// that loop and wait for the result.
type Participant struct {
	info PeerInfo
	e    *Engine
	room *Room
	out  SendFunc
	log  *slog.Logger

	q         *actionQueue
	quit      chan struct{}
	quitOnce  sync.Once
	done      chan struct{}
	wg        sync.WaitGroup // read loops started for this participant
	up, down  *webrtc.PeerConnection
	twcc      *twccFeedback // transport-cc feedback on up
	rtcpSSRC  uint32        // the sender SSRC of the feedback we send on up
	rttNs     atomic.Int64  // the smoothed round trip, for NACK retries
	link      link
	audioOnly atomic.Bool
	dataSaver atomic.Bool

	downConnected atomic.Bool
	closed        atomic.Bool
	dropped       atomic.Uint64
	joinedAt      time.Time

	// loop-owned
	pubs          map[string]*publication // by up mid
	dts           map[*publication]*downTrack
	pendingAdd    []*downTrack
	pendingRemove []*downTrack
	negotiating   bool
	renegotiate   bool
	offerSent     time.Time
	upCands       []webrtc.ICECandidateInit
	downCands     []webrtc.ICECandidateInit
	ctrl          controller
	level         Level
	ticks         int
	prevDropped   uint64
	prevForwarded uint64
	prevLost      uint64
	lossDown      float64
	lossUp        float64
	rtt           time.Duration
	rembBps       uint64
	failReason    string
}

// Join adds a participant to room roomID (creating the room) and starts
// it. send receives every message for the client.
func (e *Engine) Join(roomID string, info PeerInfo, send SendFunc) (*Participant, error) {
	if info.ID == "" {
		return nil, errors.New("sfu: empty participant id")
	}
	p, err := newParticipant(e, info, send)
	if err != nil {
		return nil, err
	}
	for range 3 {
		r, err := e.room(roomID)
		if err != nil {
			p.destroy()
			return nil, err
		}
		p.room = r
		err = r.join(p)
		if err == nil {
			go p.loop()
			return p, nil
		}
		if !errors.Is(err, errRoomClosed) {
			p.destroy()
			return nil, err
		}
	}
	p.destroy()
	return nil, errRoomClosed
}

func newParticipant(e *Engine, info PeerInfo, send SendFunc) (*Participant, error) {
	p := &Participant{
		info: info, e: e, log: e.log.With("participant", info.ID),
		q: newActionQueue(), quit: make(chan struct{}), done: make(chan struct{}),
		pubs: map[string]*publication{}, dts: map[*publication]*downTrack{},
		ctrl: newController(), joinedAt: time.Now(),
	}
	p.out = func(t string, b any) {
		if !p.closed.Load() || t == MsgBye {
			send(t, b)
		}
	}
	p.audioOnly.Store(info.AudioOnly)
	p.dataSaver.Store(info.DataSaver)
	p.ctrl.setUserMax(p.userMax())
	p.level = p.ctrl.level
	cfg := webrtc.Configuration{ICEServers: e.pionICEServers()}
	var err error
	if p.up, err = e.up.NewPeerConnection(cfg); err != nil {
		return nil, err
	}
	if p.down, err = e.down.NewPeerConnection(cfg); err != nil {
		_ = p.up.Close()
		return nil, err
	}
	p.rtcpSSRC = rand.Uint32()
	p.twcc = newTWCCFeedback(p.rtcpSSRC, func(pkts []rtcp.Packet) error { return p.up.WriteRTCP(pkts) })
	// Candidates go through the loop so that none overtakes the
	// description it belongs to.
	p.up.OnICECandidate(func(c *webrtc.ICECandidate) { p.q.post(func() { p.sendCandidate(TargetUp, c) }) })
	p.down.OnICECandidate(func(c *webrtc.ICECandidate) { p.q.post(func() { p.sendCandidate(TargetDown, c) }) })
	p.up.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		p.q.post(func() { p.onTrack(t, r) })
	})
	p.up.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			p.q.post(func() { p.fail("publishing connection failed") })
		}
	})
	p.down.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.downConnected.Store(true)
			p.q.post(p.requestKeyframes)
		case webrtc.PeerConnectionStateFailed:
			p.q.post(func() { p.fail("receiving connection failed") })
		}
	})
	return p, nil
}

// destroy releases a participant that never started its loop.
func (p *Participant) destroy() {
	p.closed.Store(true)
	p.q.close()
	p.twcc.stop()
	_ = p.up.GracefulClose()
	_ = p.down.GracefulClose()
	close(p.done)
}

// ID returns the participant's id.
func (p *Participant) ID() string { return p.info.ID }

// Done is closed when the participant has left and released everything.
func (p *Participant) Done() <-chan struct{} { return p.done }

// Close removes the participant from its room, closes its connections and
// waits until its goroutines have ended. It is idempotent.
func (p *Participant) Close() {
	p.quitOnce.Do(func() { close(p.quit) })
	<-p.done
}

func (p *Participant) sendCandidate(target string, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	j := c.ToJSON()
	p.out(MsgCandidate, CandidateMsg{Target: target, Candidate: Candidate{
		Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex, UsernameFragment: j.UsernameFragment,
	}})
}

// call runs f on the loop and waits for its result.
func (p *Participant) call(ctx context.Context, f func() error) error {
	res := make(chan error, 1)
	if !p.q.post(func() { res <- f() }) {
		return ErrClosed
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return ErrClosed
	}
}

func (p *Participant) loop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for p.failReason == "" {
		select {
		case <-p.q.ready:
			for _, f := range p.q.drain() {
				p.run(f)
			}
		case <-tick.C:
			p.run(p.tick)
		case <-p.quit:
			p.teardown()
			return
		}
	}
	p.teardown()
}

// run executes one action; a panic inside Pion or our code closes this
// participant instead of the process.
func (p *Participant) run(f func()) {
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("participant action panicked", "panic", v, "stack", string(debug.Stack()))
			p.fail("internal error")
		}
	}()
	f()
}

// fail ends the participant from inside its loop.
func (p *Participant) fail(reason string) {
	if p.failReason == "" {
		p.failReason = reason
	}
}

func (p *Participant) teardown() {
	p.closed.Store(true)
	p.q.close()
	p.room.leave(p)
	for pub, dt := range p.dts {
		pub.removeSub(dt)
	}
	for _, pub := range p.pubs {
		pub.close()
	}
	p.twcc.stop()
	_ = p.up.GracefulClose()
	_ = p.down.GracefulClose()
	p.wg.Wait()
	if p.failReason != "" {
		p.out(MsgBye, ByeMsg{Reason: p.failReason})
	}
	close(p.done)
}

// Offer applies the client's offer for its up connection and sends the
// answer. Media sections that send become publications; sources maps mids
// to what they carry (mic, camera, screen).
func (p *Participant) Offer(ctx context.Context, sdpText string, sources map[string]Source) error {
	return p.call(ctx, func() error { return p.onOffer(sdpText, sources) })
}

// Answer applies the client's answer to the last server offer.
func (p *Participant) Answer(ctx context.Context, sdpText string) error {
	return p.call(ctx, func() error { return p.onAnswer(sdpText) })
}

// AddCandidate adds a client ICE candidate to the up or down connection.
func (p *Participant) AddCandidate(ctx context.Context, target string, c Candidate) error {
	return p.call(ctx, func() error { return p.onCandidate(target, c) })
}

// Mute records that the client muted or unmuted a source (it stops sending
// itself); everyone is told.
func (p *Participant) Mute(ctx context.Context, src Source, muted bool) error {
	return p.call(ctx, func() error {
		found := false
		for _, pub := range p.pubs {
			if pub.source == src {
				pub.muted.Store(muted)
				found = true
			}
		}
		if !found {
			return protoErr("invalid", "nothing published from source %q", src)
		}
		p.room.changed() // never blocks: queued messages and the hook
		return nil
	})
}

// SetAudioOnly switches the participant's own choice of receiving no video.
func (p *Participant) SetAudioOnly(ctx context.Context, on bool) error {
	return p.call(ctx, func() error {
		p.audioOnly.Store(on)
		p.applyUserMax()
		return nil
	})
}

// SetDataSaver switches the participant's own choice of receiving cameras
// on their low layer at most (screen shares stay sharp), for a metered or
// weak link; the hub may still go lower when the link needs it.
func (p *Participant) SetDataSaver(ctx context.Context, on bool) error {
	return p.call(ctx, func() error {
		p.dataSaver.Store(on)
		p.applyUserMax()
		return nil
	})
}

// userMax is the most video the participant's own choices allow.
func (p *Participant) userMax() Level {
	switch {
	case p.audioOnly.Load():
		return LevelAudio
	case p.dataSaver.Load():
		return LevelLow
	}
	return LevelHigh
}

// applyUserMax applies a changed choice (on the loop).
func (p *Participant) applyUserMax() {
	p.ctrl.setUserMax(p.userMax())
	if p.ctrl.level == p.level {
		p.out(MsgQuality, p.qualityMsg(false)) // confirm the choice even when the level stays
	}
	p.setLevel(p.ctrl.level, false)
	p.room.changed() // never blocks: queued messages and the hook
}

func (p *Participant) onOffer(text string, sources map[string]Source) error {
	media, err := parseOffer(text)
	if err != nil {
		return err
	}
	publishing := 0
	for _, m := range media {
		if m.sending {
			publishing++
		}
	}
	if publishing > maxPublications {
		return protoErr("invalid", "at most %d published tracks", maxPublications)
	}
	if err := p.up.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: text}); err != nil {
		return protoErr("invalid_sdp", "offer rejected: %v", err)
	}
	answer, err := p.up.CreateAnswer(nil)
	if err != nil {
		return protoErr("invalid_sdp", "cannot answer: %v", err)
	}
	if err := p.up.SetLocalDescription(answer); err != nil {
		return protoErr("invalid_sdp", "cannot answer: %v", err)
	}
	for _, c := range p.upCands {
		_ = p.up.AddICECandidate(c)
	}
	p.upCands = nil
	seen := map[string]bool{}
	for _, m := range media {
		if !m.sending {
			continue
		}
		seen[m.mid] = true
		if p.pubs[m.mid] != nil {
			continue
		}
		src := sources[m.mid]
		switch {
		case m.kind == kindAudio:
			src = SourceMic
		case src != SourceScreen:
			src = SourceCamera
		}
		pub := newPublication(p, m.mid, m.kind, src, m.rids)
		p.pubs[m.mid] = pub
		p.room.addPublication(pub)
	}
	for mid, pub := range p.pubs {
		if !seen[mid] {
			delete(p.pubs, mid)
			p.room.removePublication(pub)
		}
	}
	p.out(MsgAnswer, AnswerMsg{SDP: p.up.LocalDescription().SDP})
	return nil
}

func (p *Participant) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	mid := ""
	for _, tr := range p.up.GetTransceivers() {
		if tr.Receiver() == r {
			mid = tr.Mid()
			break
		}
	}
	pub := p.pubs[mid]
	if pub == nil {
		return
	}
	var levelID, twccID, redPT uint8
	params := r.GetParameters()
	for _, x := range params.HeaderExtensions {
		switch x.URI {
		case sdp.AudioLevelURI:
			levelID = uint8(x.ID)
		case sdp.TransportCCURI:
			twccID = uint8(x.ID)
		}
	}
	for _, c := range params.Codecs {
		if strings.EqualFold(c.MimeType, mimeRED) {
			redPT = uint8(c.PayloadType)
		}
	}
	rid := t.RID()
	l := pub.attach(pub.layerIndex(rid), rid, t, upExt{level: levelID, twcc: twccID}, redPT)
	if l == nil {
		return
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		l.readLoop()
	}()
	go func() {
		defer p.wg.Done()
		for {
			var err error
			if rid == "" {
				_, _, err = r.ReadRTCP()
			} else {
				_, _, err = r.ReadSimulcastRTCP(rid)
			}
			if err != nil {
				return
			}
		}
	}()
	// New subscribers may be waiting for this layer's first keyframe.
	if pub.kind == kindVideo {
		l.requestKeyframe()
	}
}

func (p *Participant) subscribe(pub *publication) {
	if p.failReason != "" || pub.owner == p || p.dts[pub] != nil {
		return
	}
	pub.mu.Lock()
	closed := pub.closed
	pub.mu.Unlock()
	if closed {
		return
	}
	dt := newDownTrack(pub, p)
	p.dts[pub] = dt
	p.applyTarget(dt)
	pub.addSub(dt)
	p.pendingAdd = append(p.pendingAdd, dt)
	p.negotiateDown()
}

func (p *Participant) unsubscribe(pub *publication) {
	dt := p.dts[pub]
	if dt == nil {
		return
	}
	delete(p.dts, pub)
	pub.removeSub(dt)
	for i, d := range p.pendingAdd {
		if d == dt {
			p.pendingAdd = append(p.pendingAdd[:i], p.pendingAdd[i+1:]...)
			return
		}
	}
	p.pendingRemove = append(p.pendingRemove, dt)
	p.negotiateDown()
}

// negotiateDown applies queued track changes and sends an offer, unless an
// offer is outstanding, in which case it runs again after the answer.
func (p *Participant) negotiateDown() {
	if p.negotiating {
		p.renegotiate = true
		return
	}
	changed := p.renegotiate
	p.renegotiate = false
	for _, dt := range p.pendingRemove {
		if dt.sender != nil {
			_ = p.down.RemoveTrack(dt.sender)
		}
		changed = true
	}
	p.pendingRemove = nil
	for _, dt := range p.pendingAdd {
		sender, err := p.down.AddTrack(dt)
		if err != nil {
			p.log.Warn("add down track", "track", dt.pub.id, "err", err)
			continue
		}
		dt.sender = sender
		for _, tr := range p.down.GetTransceivers() {
			if tr.Sender() == sender {
				dt.transceiver = tr
			}
		}
		dt.fresh = true
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			dt.rtcpLoop()
		}()
		changed = true
	}
	p.pendingAdd = nil
	if !changed {
		return
	}
	offer, err := p.down.CreateOffer(nil)
	if err == nil {
		err = p.down.SetLocalDescription(offer)
	}
	if err != nil {
		p.log.Warn("down offer", "err", err)
		p.fail("cannot negotiate")
		return
	}
	msg := OfferMsg{SDP: p.down.LocalDescription().SDP, Tracks: []DownTrackInfo{}}
	for _, dt := range p.dts {
		if dt.transceiver == nil {
			continue
		}
		msg.Tracks = append(msg.Tracks, DownTrackInfo{
			Mid: dt.transceiver.Mid(), Track: dt.pub.id, Participant: dt.pub.owner.info.ID,
			Kind: dt.pub.kindString(), Source: dt.pub.source,
		})
	}
	sort.Slice(msg.Tracks, func(i, j int) bool { return msg.Tracks[i].Mid < msg.Tracks[j].Mid })
	p.negotiating = true
	p.offerSent = time.Now()
	p.out(MsgOffer, msg)
}

func (p *Participant) onAnswer(text string) error {
	if !p.negotiating {
		return protoErr("unexpected", "no offer is outstanding")
	}
	if len(text) > maxSDP {
		return protoErr("invalid_sdp", "answer too large")
	}
	if err := p.down.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: text}); err != nil {
		return protoErr("invalid_sdp", "answer rejected: %v", err)
	}
	p.negotiating = false
	for _, c := range p.downCands {
		_ = p.down.AddICECandidate(c)
	}
	p.downCands = nil
	for _, dt := range p.dts {
		if dt.fresh {
			dt.fresh = false
			if p.downConnected.Load() {
				dt.requestKeyframe()
			}
		}
	}
	if p.renegotiate || len(p.pendingAdd) > 0 || len(p.pendingRemove) > 0 {
		p.negotiateDown()
	}
	return nil
}

func (p *Participant) onCandidate(target string, c Candidate) error {
	if len(c.Candidate) > 1024 {
		return protoErr("invalid_candidate", "candidate too long")
	}
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	var pc *webrtc.PeerConnection
	var buf *[]webrtc.ICECandidateInit
	switch target {
	case TargetUp:
		pc, buf = p.up, &p.upCands
	case TargetDown:
		pc, buf = p.down, &p.downCands
	default:
		return protoErr("invalid", "target must be %q or %q", TargetUp, TargetDown)
	}
	if pc.RemoteDescription() == nil {
		if len(*buf) >= 64 {
			return protoErr("invalid_candidate", "too many candidates before the description")
		}
		*buf = append(*buf, init)
		return nil
	}
	if err := pc.AddICECandidate(init); err != nil {
		return protoErr("invalid_candidate", "%v", err)
	}
	return nil
}

// requestKeyframes asks, for every video this participant receives, for a
// keyframe (its receiving connection has just connected).
func (p *Participant) requestKeyframes() {
	for _, dt := range p.dts {
		if dt.pub.kind == kindVideo && dt.bound.Load() {
			dt.requestKeyframe()
		}
	}
}

// applyTarget sets the layer dt should carry at the current level.
func (p *Participant) applyTarget(dt *downTrack) {
	if dt.pub.kind != kindVideo {
		return
	}
	dt.setTarget(dt.pub.resolve(layerFor(p.level, dt.pub.source == SourceScreen)))
}

func (p *Participant) setLevel(l Level, auto bool) {
	changed := l != p.level
	p.level = l
	for _, dt := range p.dts {
		p.applyTarget(dt)
	}
	if changed {
		p.out(MsgQuality, p.qualityMsg(auto))
	}
}

func (p *Participant) qualityMsg(auto bool) QualityMsg {
	return QualityMsg{
		Level: p.level.String(), AudioOnly: p.level == LevelAudio, DataSaver: p.dataSaver.Load(),
		Auto:     auto && p.level < p.userMax(),
		LossDown: round3(max(p.lossDown, 0)), LossUp: round3(p.lossUp), RTTMs: float64(p.rtt.Microseconds()) / 1000,
	}
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }

// need estimates the bitrate the subscriber needs at level l from what
// publishers currently send.
func (p *Participant) need(l Level) uint64 {
	var sum uint64
	for _, dt := range p.dts {
		want := 0
		if dt.pub.kind == kindVideo {
			want = layerFor(l, dt.pub.source == SourceScreen)
			if want < 0 {
				continue
			}
			want = dt.pub.resolve(want)
		}
		if layer := dt.pub.layer(want); layer != nil {
			sum += layer.bitrate.Load()
		}
	}
	return sum
}

// tick runs once a second: publisher statistics, the link controller and
// the answer timeout.
func (p *Participant) tick() {
	p.ticks++
	p.sendSenderReports()
	p.lossUp = 0
	for _, pub := range p.pubs {
		for i := range pub.layers {
			if l := pub.layer(i); l != nil {
				l.tick(time.Second)
				p.lossUp = max(p.lossUp, l.loss)
			}
		}
	}
	loss, rtt, remb := p.link.take()
	p.rtt, p.rembBps = rtt, remb
	p.rttNs.Store(int64(rtt))
	// Receiver reports count what is still missing after NACK repair,
	// which hides a congested link; the share of sent packets the
	// subscriber NACKs is the raw loss. Each such packet counts once:
	// counting every NACK would take the generator's repeats, and its
	// requests for what the publisher's uplink lost, for downlink loss, and
	// 5 % real loss could then step a subscriber down (for a camera without
	// simulcast: to no video at all). Packets its own queue had to drop
	// count too.
	var fwd, lost uint64
	for _, dt := range p.dts {
		fwd += dt.packets.Load()
		lost += dt.lost.Load()
	}
	dropped := p.dropped.Load()
	df, dd, dn := fwd-p.prevForwarded, dropped-p.prevDropped, lost-p.prevLost
	if dd > 0 {
		loss = max(loss, float64(dd)/float64(dd+df))
	}
	if df > 0 && dn > 0 {
		loss = max(loss, min(1, float64(dn)/float64(df)))
	}
	p.prevDropped, p.prevForwarded, p.prevLost = dropped, fwd, lost
	if loss >= 0 {
		p.lossDown = loss
	}
	lvl, changed := p.ctrl.update(loss, remb, p.need)
	p.setLevel(lvl, changed)
	if !changed && p.ticks%2 == 0 {
		p.out(MsgQuality, p.qualityMsg(p.level != LevelHigh))
	}
	if p.negotiating && time.Since(p.offerSent) > answerTimeout {
		p.fail("no answer to the server's offer")
	}
}

// srPerPacket is how many sender reports go in one RTCP packet (28 bytes
// each), well inside a datagram.
const srPerPacket = 32

// sendSenderReports sends a sender report for every track the participant
// receives that has sent something (each second, from its tick): the
// subscriber's browser needs them to line audio up with video and to
// report the round-trip time. They replace Pion's sender-report
// interceptor, which took a lock and read the clock for every packet sent.
func (p *Participant) sendSenderReports() {
	now := time.Now().UnixNano()
	var pkts []rtcp.Packet
	for _, dt := range p.dts {
		if sr := dt.senderReport(now); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	for len(pkts) > 0 {
		n := min(len(pkts), srPerPacket)
		_ = p.down.WriteRTCP(pkts[:n])
		pkts = pkts[n:]
	}
}
