package sfu

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
)

type recordWriter struct{ hdrs []rtp.Header }

func (w *recordWriter) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	w.hdrs = append(w.hdrs, *h)
	return 0, nil
}
func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

func mungeFixture() (*downTrack, *recordWriter) {
	owner := &Participant{info: PeerInfo{ID: "pub"}, e: &Engine{}}
	sub := &Participant{info: PeerInfo{ID: "sub"}, joinedAt: time.Now()}
	sub.downConnected.Store(true)
	pub := newPublication(owner, "1", kindVideo, SourceCamera, []string{"l", "h"})
	dt := newDownTrack(pub, sub)
	w := &recordWriter{}
	dt.ws, dt.ssrc, dt.pt = w, 1234, 96
	dt.bound.Store(true)
	return dt, w
}

func pkt(layer int8, ext uint64, ts uint32, key, pad bool) *packet {
	p := &packet{layer: layer, ext: ext, keyframe: key, padOnly: pad, payload: []byte{1}}
	p.hdr.SequenceNumber = uint16(ext)
	p.hdr.Timestamp = ts
	return p
}

func TestDownTrackRenumbersAcrossLayersAndPadding(t *testing.T) {
	dt, w := mungeFixture()
	dt.target.Store(1)
	dt.write(pkt(1, 100, 9000, false, false)) // no keyframe yet: dropped
	if len(w.hdrs) != 0 {
		t.Fatal("sent before a keyframe")
	}
	dt.write(pkt(1, 101, 9000, true, false))
	dt.write(pkt(1, 102, 9000, false, false))
	dt.write(pkt(1, 103, 9000, false, true)) // padding: skipped
	dt.write(pkt(1, 105, 12000, false, false))
	dt.write(pkt(1, 104, 12000, false, false)) // late, after the padding
	dt.target.Store(0)
	dt.write(pkt(1, 106, 15000, false, false)) // still the high layer until the low keyframe
	dt.write(pkt(0, 500, 70000, false, false)) // low layer, no keyframe: dropped
	dt.write(pkt(0, 501, 73000, true, false))  // switch
	dt.write(pkt(1, 107, 18000, false, false)) // old layer: dropped
	dt.write(pkt(0, 502, 73000, false, false))
	dt.write(pkt(0, 499, 67000, false, false)) // from before the switch: dropped
	var seqs []uint16
	for _, h := range w.hdrs {
		seqs = append(seqs, h.SequenceNumber)
		if h.SSRC != 1234 || h.PayloadType != 96 {
			t.Fatalf("header %+v", h)
		}
	}
	want := []uint16{101, 102, 104, 103, 105, 106, 107}
	if len(seqs) != len(want) {
		t.Fatalf("sequence numbers %v, want %v", seqs, want)
	}
	for i := range want {
		if seqs[i] != want[i] {
			t.Fatalf("sequence numbers %v, want %v", seqs, want)
		}
	}
	// The timestamp continues past the last high-layer one.
	if last, first := w.hdrs[4].Timestamp, w.hdrs[5].Timestamp; int32(first-last) <= 0 {
		t.Fatalf("timestamp went back at the switch: %d then %d", last, first)
	}
	if dt.cur.Load() != 0 {
		t.Fatalf("current layer %d", dt.cur.Load())
	}
}

func TestDownTrackOffAndCongestionKick(t *testing.T) {
	dt, w := mungeFixture()
	dt.target.Store(1)
	dt.write(pkt(1, 10, 0, true, false))
	dt.target.Store(-1)
	dt.write(pkt(1, 11, 0, false, false))
	if len(w.hdrs) != 1 || dt.cur.Load() != -1 {
		t.Fatalf("off: %d sent, layer %d", len(w.hdrs), dt.cur.Load())
	}
	dt.target.Store(1)
	dt.write(pkt(1, 12, 3000, true, false))
	dt.kick.Store(true)
	dt.write(pkt(1, 13, 3000, false, false)) // after a queue drop: wait for a keyframe
	dt.write(pkt(1, 14, 6000, true, false))
	if n := len(w.hdrs); n != 3 {
		t.Fatalf("%d sent", n)
	}
	if a, b := w.hdrs[1].SequenceNumber, w.hdrs[2].SequenceNumber; b != a+1 {
		t.Fatalf("gap after a kick: %d then %d", a, b)
	}
}

// The first packet of the keyframe a subscriber waits for is lost on the
// publisher's uplink; the rest of the frame goes by, then the repair comes.
// Starting there would leave the frame's other packets as holes that no
// NACK can fill (they were never sent): the next keyframe starts instead,
// and what is sent has no gap.
func TestDownTrackDoesNotStartAtALateKeyframe(t *testing.T) {
	dt, w := mungeFixture()
	dt.target.Store(1)
	for ext := uint64(70); ext <= 78; ext++ {
		dt.write(pkt(1, ext, 9000, false, false)) // the keyframe's tail, before its head
	}
	dt.write(pkt(1, 69, 9000, true, false)) // the head, repaired
	if len(w.hdrs) != 0 {
		t.Fatalf("started at a keyframe whose tail went by: sent %d", w.hdrs[0].SequenceNumber)
	}
	dt.write(pkt(1, 79, 12000, false, false))
	dt.write(pkt(1, 80, 15000, true, false)) // the next keyframe, in order
	dt.write(pkt(1, 81, 15000, false, false))
	dt.write(pkt(1, 83, 15000, false, false))
	dt.write(pkt(1, 82, 15000, false, false)) // a repair inside the stream is sent
	var seqs []uint16
	for _, h := range w.hdrs {
		seqs = append(seqs, h.SequenceNumber)
	}
	want := []uint16{80, 81, 83, 82}
	if fmt.Sprint(seqs) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", seqs, want)
	}
}

// A NACK that lists many packets the history cannot repeat (lost on the
// publisher's uplink, or too old) before some it can still gets those
// repeated: the burst cap counts packets sent again, not packets asked for.
func TestRetransmitCapCountsOnlyRepeatedPackets(t *testing.T) {
	dt, w := mungeFixture()
	dt.target.Store(1)
	for ext := uint64(101); ext <= 110; ext++ {
		dt.write(pkt(1, ext, 9000, ext == 101, false))
	}
	sent := len(w.hdrs)
	var nack []uint16
	for seq := uint16(1000); seq < 1200; seq++ {
		nack = append(nack, seq) // never sent to this subscriber
	}
	nack = append(nack, 105, 107)
	dt.retransmit(nack)
	got := w.hdrs[sent:]
	if len(got) != 2 || got[0].SequenceNumber != 105 || got[1].SequenceNumber != 107 {
		t.Fatalf("repeated %d packets %v, want 105 and 107", len(got), got)
	}
	if n := dt.rtx.Load(); n != 2 {
		t.Errorf("rtx count %d, want 2", n)
	}
	// The cap still bounds one answer.
	nack = nack[:0]
	for i := 0; i < 2*maxRetransmitBurst; i++ {
		nack = append(nack, uint16(101+i%10))
	}
	before := len(w.hdrs)
	dt.retransmit(nack)
	if n := len(w.hdrs) - before; n != maxRetransmitBurst {
		t.Errorf("one NACK answered with %d packets, cap %d", n, maxRetransmitBurst)
	}
}

// A sender report counts every packet and payload octet sent, repairs
// included, and maps the wall clock to the RTP clock through the newest
// frame and its arrival; before anything is sent there is none.
func TestSenderReport(t *testing.T) {
	dt, _ := mungeFixture()
	if sr := dt.senderReport(time.Now().UnixNano()); sr != nil {
		t.Fatalf("report before any packet: %+v", sr)
	}
	dt.setTarget(1)
	base := time.Now().UnixNano()
	for i := range 5 {
		p := pkt(1, 100+uint64(i), 9000+uint32(i/2)*3000, i == 0, false)
		p.payload = make([]byte, 100+i)
		p.arrival = base + int64(i/2)*int64(33*time.Millisecond)
		dt.write(p)
	}
	dt.retransmit([]uint16{101})
	now := base + 2*int64(33*time.Millisecond) + int64(500*time.Millisecond) // 500 ms after the newest frame
	sr := dt.senderReport(now)
	if sr == nil {
		t.Fatal("no report after packets were sent")
	}
	wantOctets := uint32(100 + 101 + 102 + 103 + 104 + 101)
	if sr.SSRC != 1234 || sr.PacketCount != 6 || sr.OctetCount != wantOctets {
		t.Fatalf("report ssrc %d, %d packets, %d octets; want 1234, 6, %d", sr.SSRC, sr.PacketCount, sr.OctetCount, wantOctets)
	}
	// The newest frame (timestamp 15000) arrived 500 ms before now: 45,000 ticks at 90 kHz.
	if want := uint32(15000 + 45000); sr.RTPTime != want {
		t.Fatalf("RTP time %d, want %d", sr.RTPTime, want)
	}
	if sr.NTPTime != ntpTime(now) {
		t.Fatalf("NTP time %#x, want %#x", sr.NTPTime, ntpTime(now))
	}
}

// NTP time counts from 1900 in 32.32 fixed point; the compact form that
// receiver reports echo is its middle 32 bits.
func TestNTPTime(t *testing.T) {
	if got := ntpTime(0); got != 2208988800<<32 {
		t.Fatalf("NTP time of the Unix epoch %#x", got)
	}
	if got := ntpTime(1_500_000_000); got != (2208988800+1)<<32|1<<31 {
		t.Fatalf("NTP time of 1.5 s %#x", got)
	}
	at := time.Unix(1_800_000_000, 250_000_000)
	if got, want := ntpCompact(at), uint32(ntpTime(at.UnixNano())>>16); got != want {
		t.Fatalf("compact %#x, want %#x", got, want)
	}
}
