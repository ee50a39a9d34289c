package sfu

// Redundant audio (RED, RFC 2198). Audio has no NACK repair: a packet lost
// on the way to a subscriber is a gap in the sound. A browser that
// publishes RED puts the previous Opus frame (or two) into every packet
// beside the new one, so a subscriber's decoder fills a lost frame from
// the next packet, at the cost of the audio's bitrate (about 30 kbit/s
// more). The page asks for it (audio/red first in its codec preferences);
// the SFU forwards RED as it comes to subscribers that negotiated it, and
// only the primary Opus frame to those that did not.

const mimeRED = "audio/red"

// redFmtp is RED's format line: redundancy of Opus (payload type 111),
// as browsers write it.
const redFmtp = "111/111"

// redPrimary returns the primary (newest) block of a RED payload, the
// Opus frame a subscriber without RED receives; false when the payload is
// not well-formed RED. The block headers are 4 bytes (F=1, payload type,
// 14-bit timestamp offset, 10-bit length) except the last, 1 byte (F=0,
// payload type); the blocks follow in header order, the primary last.
func redPrimary(b []byte) ([]byte, bool) {
	off, redundant := 0, 0
	for {
		if off >= len(b) {
			return nil, false
		}
		if b[off]&0x80 == 0 {
			off++
			break
		}
		if off+4 > len(b) {
			return nil, false
		}
		redundant += int(b[off+2]&0x03)<<8 | int(b[off+3])
		off += 4
	}
	if off+redundant > len(b) {
		return nil, false
	}
	return b[off+redundant:], true
}
