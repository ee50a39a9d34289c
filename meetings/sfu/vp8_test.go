package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

func TestParseVP8Desc(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		ok   bool
		want vp8Desc
	}{
		{"empty", nil, false, vp8Desc{}},
		{"no extension", []byte{0x10, 0x00}, true, vp8Desc{start: true, size: 1}},
		{"7-bit picture id", []byte{0x90, 0x80, 0x05, 0x00}, true, vp8Desc{start: true, picAt: 2, size: 3}},
		{"15-bit picture id", []byte{0x90, 0x80, 0x85, 0x01, 0x00}, true, vp8Desc{start: true, picAt: 2, wide: true, size: 4}},
		{"picture id, tl0, tid", []byte{0x80, 0xe0, 0x81, 0x02, 0x33, 0x40, 0x01}, true, vp8Desc{picAt: 2, wide: true, tl0At: 4, size: 6}},
		{"tl0 and keyidx only", []byte{0x93, 0x50, 0x07, 0x1f}, true, vp8Desc{start: true, part: 3, tl0At: 2, size: 4}},
		{"descriptor only", []byte{0x90, 0xc0, 0x05, 0x09}, true, vp8Desc{start: true, picAt: 2, tl0At: 3, size: 4}},
		{"extension byte missing", []byte{0x90}, false, vp8Desc{}},
		{"picture id missing", []byte{0x90, 0x80}, false, vp8Desc{}},
		{"15-bit picture id cut", []byte{0x90, 0x80, 0x85}, false, vp8Desc{}},
		{"tl0 missing", []byte{0x90, 0xc0, 0x05}, false, vp8Desc{}},
		{"tid missing", []byte{0x90, 0xe0, 0x05, 0x01}, false, vp8Desc{}},
	} {
		d, ok := parseVP8Desc(c.p)
		if ok != c.ok || (ok && d != c.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", c.name, d, ok, c.want, c.ok)
		}
	}
}

// The descriptor parser takes whatever a publisher sends: it never panics,
// the fields it finds lie inside the descriptor, and a rewrite changes
// those fields only, keeping their widths, and reads back as written.
func FuzzVP8Descriptor(f *testing.F) {
	for _, p := range [][]byte{
		{0x90, 0xe0, 0x81, 0x02, 0x33, 0x40, 0x00},
		{0x90, 0x80, 0x05, 0x00},
		{0x10, 0x00},
		{0x93, 0x50, 0x07, 0x1f},
	} {
		f.Add(p, uint16(0x1234), uint8(9))
	}
	f.Fuzz(func(t *testing.T, p []byte, pic uint16, tl0 uint8) {
		vp8Keyframe(p)
		d, ok := parseVP8Desc(p)
		if !ok {
			return
		}
		if d.size > len(p) || d.picAt >= d.size || d.tl0At >= d.size || (d.wide && d.picAt+1 >= d.size) {
			t.Fatalf("%+v outside a %d-byte payload", d, len(p))
		}
		q := append([]byte(nil), p...)
		d.rewrite(q, pic, tl0)
		d2, ok := parseVP8Desc(q)
		if !ok || d2 != d {
			t.Fatalf("rewrite changed the layout: %+v, was %+v", d2, d)
		}
		if d.picAt != 0 {
			got, bits := d2.picture(q)
			if want := pic & (1<<bits - 1); got != want {
				t.Fatalf("picture id %#x read back as %#x", want, got)
			}
		}
		if d.tl0At != 0 && q[d.tl0At] != tl0 {
			t.Fatalf("tl0picidx %d read back as %d", tl0, q[d.tl0At])
		}
		for i := range p {
			if p[i] != q[i] && i != d.picAt && !(d.wide && i == d.picAt+1) && i != d.tl0At {
				t.Fatalf("byte %d changed: % x -> % x", i, p, q)
			}
		}
	})
}

// vp8Pkt is one packet of a VP8 frame: a descriptor with a PictureID
// (15 bits when wide, else 7), TL0PICIDX and TID 0, then the payload
// header when first.
func vp8Pkt(layer int8, ext uint64, ts uint32, key, first bool, pic uint16, wide bool, tl0 uint8) *packet {
	b0 := byte(0x80)
	if first {
		b0 |= 0x10
	}
	pl := []byte{b0, 0xe0}
	if wide {
		pl = append(pl, 0x80|byte(pic>>8)&0x7f, byte(pic))
	} else {
		pl = append(pl, byte(pic)&0x7f)
	}
	pl = append(pl, tl0, 0x00)
	if key {
		pl = append(pl, 0x00, 0xaa, 0xbb)
	} else {
		pl = append(pl, 0x01, 0xcc)
	}
	p := &packet{layer: layer, ext: ext, keyframe: key && first, payload: pl}
	p.hdr.SequenceNumber = uint16(ext)
	p.hdr.Timestamp = ts
	return p
}

// sentVP8 is what a subscriber received of one packet's descriptor.
type sentVP8 struct {
	seq  uint16
	pic  uint16
	wide bool
	tl0  uint8
	rest []byte // the bytes after the rewritten fields
}

func readVP8(t *testing.T, b []byte) sentVP8 {
	t.Helper()
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	d, ok := parseVP8Desc(p.Payload)
	if !ok || d.picAt == 0 || d.tl0At == 0 {
		t.Fatalf("descriptor lost: % x", p.Payload)
	}
	pic, _ := d.picture(p.Payload)
	return sentVP8{seq: p.SequenceNumber, pic: pic, wide: d.wide, tl0: p.Payload[d.tl0At], rest: p.Payload[d.tl0At+1:]}
}

// A subscriber switched between simulcast layers, each with its own
// PictureID and TL0PICIDX sequences, receives both continuing by one per
// frame, in the width each layer uses; the shared packets are untouched,
// and a retransmission repeats the ids first sent.
func TestDownTrackContinuesVP8PictureIDsAcrossLayers(t *testing.T) {
	dt, _ := mungeFixture()
	w := &wireWriter{}
	dt.ws = w
	dt.target.Store(1)
	var all []*packet
	send := func(p *packet) { all = append(all, p); dt.write(p) }
	frame := func(layer int8, ext uint64, ts uint32, key bool, pic uint16, wide bool, tl0 uint8) {
		send(vp8Pkt(layer, ext, ts, key, true, pic, wide, tl0))
		send(vp8Pkt(layer, ext+1, ts, false, false, pic, wide, tl0))
	}
	// High layer: 15-bit ids 32766, 32767, 0 (wrapping), TL0PICIDX 254, 255, 0.
	frame(1, 100, 3000, true, 32766, true, 254)
	frame(1, 102, 6000, false, 32767, true, 255)
	frame(1, 104, 9000, false, 0, true, 0)
	// Switch to the low layer: 7-bit ids 126, 127, 0, TL0PICIDX 17...
	dt.target.Store(0)
	frame(1, 106, 12000, false, 1, true, 1) // the high layer until the low keyframe
	frame(0, 500, 12000, true, 126, false, 17)
	frame(1, 108, 15000, false, 2, true, 2) // dropped: no longer sent
	frame(0, 502, 15000, false, 127, false, 18)
	frame(0, 504, 18000, false, 0, false, 19)
	// And back to the high layer, which moved on meanwhile.
	dt.target.Store(1)
	frame(1, 120, 21000, true, 10, true, 10)
	frame(1, 122, 24000, false, 11, true, 11)

	var got []sentVP8
	for _, b := range w.pkts {
		got = append(got, readVP8(t, b))
	}
	if len(got) != 18 {
		t.Fatalf("%d packets sent, want 18", len(got))
	}
	// One frame is two packets with the same ids.
	wantPic := []uint16{32766, 32767, 0, 1, 2 & 0x7f, 3 & 0x7f, 4 & 0x7f, 5, 6}
	wantTL0 := []uint8{254, 255, 0, 1, 2, 3, 4, 5, 6}
	wantWide := []bool{true, true, true, true, false, false, false, true, true}
	for i, g := range got {
		f := i / 2
		if g.pic != wantPic[f] || g.tl0 != wantTL0[f] || g.wide != wantWide[f] {
			t.Errorf("frame %d packet %d: picture id %d (15-bit %v) tl0picidx %d, want %d (%v) %d",
				f, i%2, g.pic, g.wide, g.tl0, wantPic[f], wantWide[f], wantTL0[f])
		}
		if i > 0 && g.seq != got[i-1].seq+1 {
			t.Errorf("sequence numbers %d then %d", got[i-1].seq, g.seq)
		}
	}
	// The shared packets still carry what the publisher sent.
	if d, _ := parseVP8Desc(all[8].payload); d.wide || all[8].payload[2] != 126 || all[8].payload[3] != 17 {
		t.Fatalf("the low layer's keyframe was modified: % x", all[8].payload)
	}
	if all[16].payload[2] != 0x80 || all[16].payload[3] != 10 {
		t.Fatalf("the high layer's keyframe was modified: % x", all[16].payload)
	}
	// Everything after the rewritten fields is the publisher's.
	if !bytes.Equal(got[8].rest, all[8].payload[4:]) || !bytes.Equal(got[14].rest, all[16].payload[5:]) {
		t.Fatalf("payload changed beyond the descriptor: % x, % x", got[8].rest, got[14].rest)
	}

	// NACKs for a rewritten packet of each layer and one of the first
	// layer get exactly what was first sent.
	n := len(w.pkts)
	dt.retransmit([]uint16{got[3].seq, got[9].seq, got[17].seq})
	if len(w.pkts) != n+3 {
		t.Fatalf("%d retransmitted", len(w.pkts)-n)
	}
	for i, orig := range []int{3, 9, 17} {
		r := readVP8(t, w.pkts[n+i])
		o := got[orig]
		if r.seq != o.seq || r.pic != o.pic || r.tl0 != o.tl0 || r.wide != o.wide || !bytes.Equal(r.rest, o.rest) {
			t.Errorf("retransmitted %+v, first sent %+v", r, o)
		}
	}
}

// After a congestion drop the same layer restarts at a keyframe with the
// publisher's own numbering (its gap is real), and packets that carry no
// PictureID pass untouched.
func TestDownTrackVP8RestartOnSameLayer(t *testing.T) {
	dt, _ := mungeFixture()
	w := &wireWriter{}
	dt.ws = w
	dt.target.Store(1)
	dt.write(vp8Pkt(1, 10, 3000, true, true, 700, true, 40))
	dt.kick.Store(true)
	dt.write(vp8Pkt(1, 11, 6000, false, true, 701, true, 41)) // restarts at the next keyframe
	dt.write(vp8Pkt(1, 12, 9000, true, true, 702, true, 42))
	plain := &packet{layer: 1, ext: 13, payload: []byte{0x10, 0x01, 0xee}}
	plain.hdr.Timestamp = 12000
	dt.write(plain)
	if len(w.pkts) != 3 {
		t.Fatalf("%d packets sent", len(w.pkts))
	}
	a, b := readVP8(t, w.pkts[0]), readVP8(t, w.pkts[1])
	if a.pic != 700 || b.pic != 702 || a.tl0 != 40 || b.tl0 != 42 {
		t.Fatalf("after a restart on the same layer: %d/%d then %d/%d", a.pic, a.tl0, b.pic, b.tl0)
	}
	var p rtp.Packet
	if err := p.Unmarshal(w.pkts[2]); err != nil || !bytes.Equal(p.Payload, plain.payload) {
		t.Fatalf("descriptor without ids changed: % x", p.Payload)
	}
}
