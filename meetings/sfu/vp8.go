package sfu

// vp8Desc locates the fields of a VP8 payload descriptor (RFC 7741 §4.2)
// that a forwarder reads or rewrites. Offsets are 0 for an absent field
// (the first byte is never one).
type vp8Desc struct {
	start bool // S: the first packet of a partition
	part  byte // PID: the partition index
	picAt int  // PictureID
	wide  bool // M: the PictureID is 15 bits, not 7
	tl0At int  // TL0PICIDX
	size  int  // the descriptor's length: the VP8 payload header follows
}

// parseVP8Desc parses the descriptor at the start of an RTP payload
// carrying VP8. It returns false when the payload is too short for the
// descriptor it announces. It never panics.
func parseVP8Desc(p []byte) (vp8Desc, bool) {
	var d vp8Desc
	if len(p) < 1 {
		return d, false
	}
	b0 := p[0]
	d.start, d.part = b0&0x10 != 0, b0&0x07
	i := 1
	if b0&0x80 != 0 { // X: extension byte follows
		if len(p) <= i {
			return d, false
		}
		x := p[i]
		i++
		if x&0x80 != 0 { // I: PictureID
			if len(p) <= i {
				return d, false
			}
			d.picAt, d.wide = i, p[i]&0x80 != 0
			i++
			if d.wide {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			d.tl0At = i
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if len(p) < i {
		return d, false
	}
	d.size = i
	return d, true
}

// picture returns the PictureID and its width in bits (d.picAt != 0).
func (d vp8Desc) picture(p []byte) (uint16, uint) {
	if d.wide {
		return uint16(p[d.picAt]&0x7f)<<8 | uint16(p[d.picAt+1]), 15
	}
	return uint16(p[d.picAt] & 0x7f), 7
}

// rewrite stores pic and tl0 in the descriptor fields of p that d
// located, keeping each field's width (the M bit as it was).
func (d vp8Desc) rewrite(p []byte, pic uint16, tl0 uint8) {
	if d.picAt != 0 {
		if d.wide {
			p[d.picAt], p[d.picAt+1] = 0x80|byte(pic>>8)&0x7f, byte(pic)
		} else {
			p[d.picAt] = byte(pic) & 0x7f
		}
	}
	if d.tl0At != 0 {
		p[d.tl0At] = tl0
	}
}

// vp8Keyframe reports whether an RTP payload carrying VP8 (RFC 7741) is the
// first packet of a keyframe. It never panics on short or corrupt input.
func vp8Keyframe(p []byte) bool {
	d, ok := parseVP8Desc(p)
	if !ok || !d.start || d.part != 0 || len(p) <= d.size {
		return false
	}
	return p[d.size]&0x01 == 0 // P bit clear: keyframe
}

// vp8Index continues one counter of the VP8 descriptor (the PictureID or
// TL0PICIDX) for one subscriber across layer switches, as the sequence
// numbers are: each simulcast layer has its own sequence of values, so
// the first frame of a new layer is numbered after the last one sent.
// Values are extended to 64 bits (in the width each packet carries them
// in) to tell newer from reordered. It is owned like the downTrack's other
// munging state.
type vp8Index struct {
	sent    bool  // a value has been sent
	fresh   bool  // an epoch began and has not carried this field yet
	same    bool  // that epoch is on the layer of the one before
	lastIn  int64 // newest extended incoming value of the epoch
	base    int64 // out = in + base
	lastOut int64 // newest value sent
}

// newEpoch records that sending (re)started at a keyframe; same says
// whether on the layer sent before.
func (x *vp8Index) newEpoch(same bool) { x.fresh, x.same = true, same }

// next returns the value to send for incoming value v, bits wide.
func (x *vp8Index) next(v uint16, bits uint) uint16 {
	size := int64(1) << bits
	mask := size - 1
	switch {
	case !x.sent: // the first layer goes out as it came
		x.sent, x.base = true, 0
		x.lastIn, x.lastOut = int64(v), int64(v)
	case x.fresh && !x.same: // a new layer follows the last frame sent
		x.lastIn = int64(v)
		x.base = x.lastOut + 1 - x.lastIn
		x.lastOut++
	case x.fresh: // the same layer after a break: its own numbering, forward
		x.lastIn += (int64(v) - x.lastIn) & mask
		x.lastOut = max(x.lastOut, x.lastIn+x.base)
	default:
		d := (int64(v) - x.lastIn) & mask
		if d >= size/2 {
			d -= size // older than the newest: reordered or repeated
		}
		in := x.lastIn + d
		x.fresh = false
		if d > 0 {
			x.lastIn = in
			x.lastOut = max(x.lastOut, in+x.base)
		}
		return uint16((in + x.base) & mask)
	}
	x.fresh = false
	return uint16((x.lastIn + x.base) & mask)
}
