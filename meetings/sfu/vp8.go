package sfu

// vp8Keyframe reports whether an RTP payload carrying VP8 (RFC 7741) is the
// first packet of a keyframe. It never panics on short or corrupt input.
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	s := b0&0x10 != 0
	pid := b0 & 0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if b0&0x80 != 0 { // X: extension byte follows
		if len(p) <= i {
			return false
		}
		x := p[i]
		i++
		if x&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 { // M: 15-bit picture id
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0 // P bit clear: keyframe
}
