package sfu

import (
	"testing"

	"github.com/pion/rtp"
)

// marshalWriter does what Pion's write path does with a header and a
// payload before encrypting them: one packet image per write.
type marshalWriter struct{ buf [1500]byte }

func (w *marshalWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.buf[:])
	if err != nil {
		return 0, err
	}
	return n + copy(w.buf[n:], payload), nil
}
func (w *marshalWriter) Write(b []byte) (int, error) { return len(b), nil }

// chromeVP8 is a VP8 payload as Chrome sends it: X, I with a 15-bit
// picture id, L (TL0PICIDX), T (TID), then ~1,100 bytes of frame.
func chromeVP8(key bool, pic uint16, tl0 uint8) []byte {
	p := make([]byte, 1100)
	p[0] = 0x90 // X, S
	p[1] = 0xe0 // I, L, T
	p[2], p[3] = 0x80|byte(pic>>8), byte(pic)
	p[4] = tl0
	p[5] = 0x00 // TID 0
	if !key {
		p[6] = 0x01
	}
	return p
}

func benchPackets(layer int8, n int, ext uint64, ts uint32) []*packet {
	ps := make([]*packet, n)
	for i := range ps {
		p := &packet{layer: layer, ext: ext + uint64(i), keyframe: i == 0, payload: chromeVP8(i == 0, uint16(1000+i/4), uint8(i/4)), arrival: int64(i) * 1e6}
		p.hdr.SequenceNumber = uint16(p.ext)
		p.hdr.Timestamp = ts + uint32(i/4)*3000
		p.hdr.Marker = i%4 == 3
		ps[i] = p
	}
	return ps
}

// advance moves ps on by their own length: later sequence numbers,
// timestamps, picture ids and TL0PICIDX.
func advance(ps []*packet) {
	n := len(ps)
	for _, p := range ps {
		p.ext += uint64(n)
		p.hdr.SequenceNumber = uint16(p.ext)
		p.hdr.Timestamp += uint32(n/4) * 3000
		pic := (uint16(p.payload[2]&0x7f)<<8 | uint16(p.payload[3])) + uint16(n/4)
		p.payload[2], p.payload[3] = 0x80|byte(pic>>8&0x7f), byte(pic)
		p.payload[4] += uint8(n / 4)
	}
}

// benchTrack is a downTrack bound as to a browser: abs-send-time negotiated.
func benchTrack() *downTrack {
	dt, _ := mungeFixture()
	dt.ws, dt.astID = &marshalWriter{}, 3
	return dt
}

// BenchmarkDownTrackWrite is the per-packet, per-subscriber forwarding
// work: renumbering, the NACK history, abs-send-time, and the header as
// Pion marshals it. "switched" has changed layer once, so its packets are
// rewritten; "no-abs-send-time" is a subscriber that did not negotiate it.
func BenchmarkDownTrackWrite(b *testing.B) {
	for _, c := range []struct {
		name     string
		switched bool
		ast      uint8
	}{{"first-layer", false, 3}, {"switched", true, 3}, {"no-abs-send-time", false, 0}} {
		b.Run(c.name, func(b *testing.B) {
			dt := benchTrack()
			dt.astID = c.ast
			dt.target.Store(1)
			high := benchPackets(1, 64, 1000, 90000) // 70 KB: hot in cache, as for all but the first subscriber
			if c.switched {
				low := benchPackets(0, 8, 50000, 7777)
				dt.target.Store(0)
				for _, p := range low {
					dt.write(p)
				}
				dt.target.Store(1)
			}
			dt.write(high[0])
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p := high[1+i%(len(high)-1)]
				if i%(len(high)-1) == 0 && i > 0 {
					advance(high)
				}
				dt.write(p)
			}
		})
	}
}

// BenchmarkDownTrackRetransmit answers one NACK of 8 packets.
func BenchmarkDownTrackRetransmit(b *testing.B) {
	dt := benchTrack()
	dt.target.Store(1)
	for _, p := range benchPackets(1, 64, 1000, 90000) {
		dt.write(p)
	}
	seqs := []uint16{1010, 1011, 1012, 1013, 1020, 1030, 1040, 1050}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		dt.retransmit(seqs)
	}
}
