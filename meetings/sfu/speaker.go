package sfu

import "sync/atomic"

// Speaker detection follows LiveKit's defaults for the RFC 6464 audio level
// (0 is loudest, 127 silence, in -dBov): a packet counts as active when its
// level is at or below activeLevel, and a publisher is speaking when at
// least minActivePercent of the packets of an interval were active.
const (
	activeLevel      = 35
	minActivePercent = 40
)

// levelMeter accumulates audio levels between two speaker ticks. add is
// called by the track's reader goroutine, take by the room's ticker.
type levelMeter struct {
	packets atomic.Uint32
	active  atomic.Uint32
	loud    atomic.Uint64 // sum of (127-level) over active packets
}

func (m *levelMeter) add(level uint8) {
	m.packets.Add(1)
	if level <= activeLevel {
		m.active.Add(1)
		m.loud.Add(uint64(127 - level))
	}
}

// take returns whether the interval was speech and its loudness in 0..1,
// and starts a new interval.
func (m *levelMeter) take() (speaking bool, loudness float64) {
	n := m.packets.Swap(0)
	a := m.active.Swap(0)
	l := m.loud.Swap(0)
	if n == 0 || a*100 < n*minActivePercent {
		return false, 0
	}
	return true, float64(l) / float64(a) / 127
}

// parseAudioLevel decodes the one-byte RFC 6464 extension.
func parseAudioLevel(b []byte) (level uint8, ok bool) {
	if len(b) < 1 {
		return 127, false
	}
	return b[0] & 0x7f, true
}
