package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// remb test levels' needs: audio, screen, low, high.
func rembNeed(l Level) uint64 { return []uint64{40e3, 150e3, 400e3, 1500e3}[l] }

// An estimate still climbing is catching up (a new stream, a step up) and
// condemns nothing; once it stops below what the level takes, two
// intervals step down to the highest level it carries.
func TestControllerREMBStepsDownWhenTheEstimateStopsClimbing(t *testing.T) {
	c := newController()
	est := 1000e3
	for i := range 6 { // +8 % a second, as a browser's estimate climbs
		if l, _ := c.update(0, uint64(est), rembNeed); l != LevelHigh {
			t.Fatalf("a climbing estimate (%.0f after %d s) moved the level to %s", est, i, l)
		}
		est *= 1.08
	}
	if l, _ := c.update(0, 1300e3, rembNeed); l != LevelHigh {
		t.Fatalf("one interval of a flat 1.3 Mbit/s estimate: %s", l)
	}
	if l, changed := c.update(0, 1300e3, rembNeed); l != LevelLow || !changed {
		t.Fatalf("two intervals of a flat 1.3 Mbit/s estimate under 1.5 Mbit/s: %s", l)
	}
	// The link congests: the estimate falls below what the low level takes.
	c.update(0, 300e3, rembNeed)
	if l, _ := c.update(0, 300e3, rembNeed); l != LevelScreen {
		t.Fatalf("300 kbit/s estimate: %s", l)
	}
	c.update(0, 30e3, rembNeed)
	if l, _ := c.update(0, 30e3, rembNeed); l != LevelAudio {
		t.Fatalf("30 kbit/s estimate: %s", l)
	}
	// Without loss, an estimate that carries the next level lets it climb.
	for range goodIntervals + 1 {
		c.update(0, 200e3, rembNeed)
	}
	if c.level != LevelScreen {
		t.Fatalf("200 kbit/s estimate carries the screen level, got %s", c.level)
	}
}

// Loss steps down whatever the estimate says.
func TestControllerLossStepsDownUnderAmpleEstimate(t *testing.T) {
	c := newController()
	c.update(0.2, 5000e3, rembNeed)
	if l, _ := c.update(0.2, 5000e3, rembNeed); l != LevelLow {
		t.Fatalf("20 %% loss under a 5 Mbit/s estimate: %s", l)
	}
}

// A browser's estimate never exceeds 1.5 times what it receives, so it
// cannot vouch for the high layer while the low one is sent: when it is
// well above what the level takes, the controller probes up, falls back
// when the estimate then falls short, and waits twice as long each time.
// An estimate close to what the level takes forbids probing.
func TestControllerREMBProbesWithBackOff(t *testing.T) {
	c := newController()
	c.level = LevelScreen
	var ups []int
	for i := range 120 {
		if l, changed := c.update(0, 200e3, rembNeed); changed && l == LevelLow {
			ups = append(ups, i)
		}
	}
	// Probes after 5 good intervals, then 2 bad ones and 10, 20, 40 good.
	want := []int{4, 4 + 2 + 10, 4 + 2 + 10 + 2 + 20, 4 + 2 + 10 + 2 + 20 + 2 + 40}
	if len(ups) != len(want) {
		t.Fatalf("probes at intervals %v, want %v", ups, want)
	}
	for i := range want {
		if ups[i] != want[i] {
			t.Fatalf("probes at intervals %v, want %v", ups, want)
		}
	}
	c = newController()
	c.level = LevelScreen
	for range 120 {
		if l, _ := c.update(0, 180e3, rembNeed); l != LevelScreen {
			t.Fatalf("an estimate just above what the level takes probed to %s", l)
		}
	}
}

func TestAbsSendTime(t *testing.T) {
	for _, c := range []struct {
		ns   int64
		want uint32
	}{
		{0, 0},
		{1_500_000_000, 3 << 17},                    // 1.5 s
		{64_000_000_000 + 250_000_000, 1 << 16},     // wraps at 64 s
		{63_999_999_999, 0xffffff},                  // just below the wrap
		{3*64_000_000_000 + 2_000_000_000, 2 << 18}, // 2 s past a wrap
	} {
		if got := absSendTime(c.ns); got != c.want {
			t.Errorf("absSendTime(%d) = %#x, want %#x", c.ns, got, c.want)
		}
	}
}

// wireWriter keeps each packet as it would go on the wire (before SRTP).
type wireWriter struct{ pkts [][]byte }

func (w *wireWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	b, err := (&rtp.Packet{Header: *h, Payload: payload}).Marshal()
	if err != nil {
		return 0, err
	}
	w.pkts = append(w.pkts, b)
	return len(b), nil
}
func (w *wireWriter) Write(b []byte) (int, error) { return len(b), nil }

// Every packet sent, first time or again on NACK, carries abs-send-time
// with the time it was sent; none does when it was not negotiated.
func TestDownTrackStampsAbsSendTime(t *testing.T) {
	dt, _ := mungeFixture()
	w := &wireWriter{}
	dt.ws, dt.astID = w, 3
	dt.target.Store(1)
	before := absSendTime(int64(time.Since(dt.sub.joinedAt)))
	dt.write(pkt(1, 100, 9000, true, false))
	dt.write(pkt(1, 101, 9000, false, false))
	time.Sleep(20 * time.Millisecond) // sleep: time passes between the send and the resend
	dt.retransmit([]uint16{100})
	after := absSendTime(int64(time.Since(dt.sub.joinedAt)))
	if len(w.pkts) != 3 {
		t.Fatalf("%d packets sent", len(w.pkts))
	}
	var times []uint32
	for i, b := range w.pkts {
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		x := p.GetExtension(3)
		if !p.Extension || p.ExtensionProfile != rtp.ExtensionProfileOneByte || len(x) != 3 || len(p.Payload) != 1 {
			t.Fatalf("packet %d: extension %v profile %#x value %x payload %x", i, p.Extension, p.ExtensionProfile, x, p.Payload)
		}
		v := uint32(x[0])<<16 | uint32(x[1])<<8 | uint32(x[2])
		if (v-before)&0xffffff > (after-before)&0xffffff {
			t.Fatalf("packet %d sent at %#x, outside [%#x, %#x]", i, v, before, after)
		}
		times = append(times, v)
	}
	// The retransmission has its own, later, send time (1/262144 s units).
	if d := (times[2] - times[0]) & 0xffffff; float64(d) < 20e-3*(1<<18)*0.9 {
		t.Fatalf("retransmitted with send time %#x, first sent at %#x", times[2], times[0])
	}
	if seq := w.pkts[2][2:4]; seq[0] != 0 || seq[1] != 100 {
		t.Fatalf("retransmitted sequence number %x", seq)
	}

	dt2, _ := mungeFixture()
	w2 := &wireWriter{}
	dt2.ws = w2
	dt2.target.Store(1)
	dt2.write(pkt(1, 5, 0, true, false))
	var p rtp.Packet
	if err := p.Unmarshal(w2.pkts[0]); err != nil || p.Extension {
		t.Fatalf("extension sent without being negotiated: %v %v", err, p.Extension)
	}
}
