package sfu

import (
	"strings"
	"testing"

	"github.com/pion/rtcp"
)

func TestVP8Keyframe(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"empty", nil, false},
		{"start, keyframe", []byte{0x10, 0x00}, true},
		{"start, interframe", []byte{0x10, 0x01}, false},
		{"not start", []byte{0x00, 0x00}, false},
		{"partition 1", []byte{0x11, 0x00}, false},
		{"ext, 7-bit picture id, keyframe", []byte{0x90, 0x80, 0x05, 0x00}, true},
		{"ext, 15-bit picture id, keyframe", []byte{0x90, 0x80, 0x85, 0x01, 0x00}, true},
		{"ext, 15-bit picture id, interframe", []byte{0x90, 0x80, 0x85, 0x01, 0x01}, false},
		{"ext, pid+tl0+tid, keyframe", []byte{0x90, 0xe0, 0x01, 0x02, 0x40, 0x00}, true},
		{"ext truncated", []byte{0x90}, false},
		{"picture id truncated", []byte{0x90, 0x80}, false},
		{"header missing", []byte{0x90, 0x80, 0x85, 0x01}, false},
	} {
		if got := vp8Keyframe(c.p); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

func FuzzVP8Keyframe(f *testing.F) {
	f.Add([]byte{0x90, 0xe0, 0x01, 0x02, 0x40, 0x00})
	f.Fuzz(func(t *testing.T, p []byte) { vp8Keyframe(p) })
}

func TestLayerFor(t *testing.T) {
	for _, c := range []struct {
		l              Level
		camera, screen int
	}{
		{LevelAudio, -1, -1},
		{LevelScreen, -1, 0},
		{LevelLow, 0, 1},
		{LevelHigh, 1, 1},
	} {
		if got := layerFor(c.l, false); got != c.camera {
			t.Errorf("%s camera: %d", c.l, got)
		}
		if got := layerFor(c.l, true); got != c.screen {
			t.Errorf("%s screen: %d", c.l, got)
		}
	}
}

func TestControllerStepsDownOnLossAndBacksOffProbing(t *testing.T) {
	need := func(Level) uint64 { return 0 }
	c := newController()
	steps := func(loss float64, n int) Level {
		var l Level
		for range n {
			l, _ = c.update(loss, 0, need)
		}
		return l
	}
	if l := steps(0.05, 10); l != LevelHigh {
		t.Fatalf("moderate loss moved the level to %s", l)
	}
	if l := steps(0.2, 1); l != LevelHigh {
		t.Fatal("one bad interval is enough to step down")
	}
	if l := steps(0.2, 1); l != LevelLow {
		t.Fatalf("two bad intervals: %s", l)
	}
	if l := steps(0.3, 4); l != LevelAudio {
		t.Fatalf("persistent loss: %s", l)
	}
	if l := steps(0.3, 10); l != LevelAudio {
		t.Fatal("below audio")
	}
	if l := steps(0, goodIntervals); l != LevelScreen {
		t.Fatalf("after %d good intervals: %s", goodIntervals, l)
	}
	// The probe fails: the next probe waits twice as long.
	steps(0.3, 2)
	if l := steps(0, goodIntervals); l != LevelAudio {
		t.Fatalf("probed again too soon: %s", l)
	}
	if l := steps(0, goodIntervals); l != LevelScreen {
		t.Fatalf("no probe after the doubled wait: %s", l)
	}
}

func TestControllerNoReports(t *testing.T) {
	c := newController()
	need := func(Level) uint64 { return 0 }
	for range 20 {
		if l, _ := c.update(-1, 0, need); l != LevelHigh {
			t.Fatal("silence moved a healthy level")
		}
	}
	c.level = LevelAudio
	for range goodIntervals + silentIntervals - 1 {
		c.update(-1, 0, need)
	}
	if c.level != LevelScreen {
		t.Fatalf("an audio-only subscriber with nothing to measure is never probed up: %s", c.level)
	}
}

func TestControllerUserAudio(t *testing.T) {
	c := newController()
	c.setUserMax(LevelAudio)
	for range 50 {
		if l, _ := c.update(0, 0, func(Level) uint64 { return 0 }); l != LevelAudio {
			t.Fatal("chosen audio only overridden")
		}
	}
	c.setUserMax(LevelHigh)
	if c.level != LevelHigh {
		t.Fatalf("back from audio only at %s", c.level)
	}
}

// Data saver caps the level at low however good the link, still steps down
// when the link is bad, and lifting it returns to high only from where the
// cap held the level.
func TestControllerDataSaver(t *testing.T) {
	none := func(Level) uint64 { return 0 }
	c := newController()
	c.setUserMax(LevelLow)
	if c.level != LevelLow {
		t.Fatalf("data saver on at %s", c.level)
	}
	for range 200 {
		if l, _ := c.update(0, 0, none); l != LevelLow {
			t.Fatalf("a perfect link climbed past data saver to %s", l)
		}
	}
	for range badIntervals {
		c.update(0.3, 0, none)
	}
	if c.level != LevelScreen {
		t.Fatalf("bad link under data saver at %s, want screen", c.level)
	}
	c.setUserMax(LevelHigh)
	if c.level != LevelScreen {
		t.Fatalf("lifting data saver jumped a link-lowered level to %s", c.level)
	}
	c = newController()
	c.setUserMax(LevelLow)
	c.setUserMax(LevelHigh)
	if c.level != LevelHigh {
		t.Fatalf("data saver off at %s, want high", c.level)
	}
}

func TestLevelMeter(t *testing.T) {
	var m levelMeter
	for i := range 10 {
		if i < 5 {
			m.add(20)
		} else {
			m.add(100)
		}
	}
	if ok, loud := m.take(); !ok || loud < 0.8 || loud > 0.9 {
		t.Fatalf("50%% active: %v %v", ok, loud)
	}
	for i := range 10 {
		if i < 3 {
			m.add(20)
		} else {
			m.add(127)
		}
	}
	if ok, _ := m.take(); ok {
		t.Fatal("30% active counted as speech")
	}
	if ok, _ := m.take(); ok {
		t.Fatal("empty interval counted as speech")
	}
}

func TestLayerIndex(t *testing.T) {
	p := &Participant{info: PeerInfo{ID: "p"}}
	for _, c := range []struct {
		rids []string
		rid  string
		want int
	}{
		{nil, "", 0},
		{[]string{"h", "l"}, "l", 0},
		{[]string{"h", "l"}, "h", 1},
		{[]string{"q", "h", "f"}, "q", 0},
		{[]string{"q", "h", "f"}, "f", 1},
		{[]string{"q", "h", "f"}, "h", -1},
		{[]string{"a", "b"}, "a", 0},
		{[]string{"a", "b"}, "b", 1},
	} {
		pub := newPublication(p, "0", kindVideo, SourceCamera, c.rids)
		if got := pub.layerIndex(c.rid); got != c.want {
			t.Errorf("rids %v rid %q: %d, want %d", c.rids, c.rid, got, c.want)
		}
	}
}

const goodOffer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n" +
	"a=rid:l send\r\na=rid:h send\r\na=simulcast:send l;h\r\n"

func TestParseOffer(t *testing.T) {
	m, err := parseOffer(goodOffer)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].kind != kindAudio || !m[0].sending || m[1].mid != "1" || strings.Join(m[1].rids, ",") != "l,h" {
		t.Fatalf("%+v", m)
	}
	stopped := strings.Replace(goodOffer, "m=video 9", "m=video 0", 1)
	if m, _ := parseOffer(stopped); m[1].sending {
		t.Error("port 0 counted as sending")
	}
	inactive := strings.Replace(goodOffer, "a=mid:0\r\na=sendonly", "a=mid:0\r\na=inactive", 1)
	if m, _ := parseOffer(inactive); m[0].sending {
		t.Error("inactive counted as sending")
	}
	for name, bad := range map[string]string{
		"empty":     "",
		"garbage":   "hello",
		"no media":  "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
		"dup mid":   strings.Replace(goodOffer, "a=mid:1", "a=mid:0", 1),
		"no mid":    strings.Replace(goodOffer, "a=mid:1\r\n", "", 1),
		"data":      strings.Replace(goodOffer, "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", 1),
		"too large": goodOffer + strings.Repeat("a=x:y\r\n", 10000),
	} {
		if _, err := parseOffer(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add(goodOffer)
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseOffer(s)
		if err == nil && len(m) == 0 {
			t.Fatal("accepted an offer without media")
		}
	})
}

func TestNTPCompact(t *testing.T) {
	a := ntpCompact(timeAt(1000, 0))
	b := ntpCompact(timeAt(1000, 500_000_000))
	if d := b - a; d < 32767 || d > 32769 {
		t.Fatalf("half a second is %d/65536", d)
	}
}

func TestControllerMissingReportsKeepBadCount(t *testing.T) {
	c := newController()
	need := func(Level) uint64 { return 0 }
	c.update(0.2, 0, need)
	c.update(-1, 0, need) // the next report comes a little late
	if l, _ := c.update(0.2, 0, need); l != LevelLow {
		t.Fatalf("a late report reset the bad count: %s", l)
	}
}

// A report from a track that received nothing (a camera paused at the
// subscriber's level) says 0 % loss; it must not hide the audio's 20 %,
// whichever comes first in the interval. An interval with only such
// reports has no loss figure.
func TestLinkLossIgnoresTracksThatReceivedNothing(t *testing.T) {
	audio := rtcp.ReceptionReport{SSRC: 1, FractionLost: 51, LastSequenceNumber: 500}
	paused := rtcp.ReceptionReport{SSRC: 2, LastSequenceNumber: 900}
	for _, videoFirst := range []bool{true, false} {
		var l link
		if videoFirst {
			l.report(paused, false)
			l.report(audio, true)
		} else {
			l.report(audio, true)
			l.report(paused, false)
		}
		if loss, _, _ := l.take(); loss < 0.19 || loss > 0.21 {
			t.Errorf("video first %v: loss %.3f, want the audio's 0.2", videoFirst, loss)
		}
	}
	var l link
	l.report(paused, false)
	if loss, _, _ := l.take(); loss != -1 {
		t.Errorf("only a paused track reported: loss %.3f, want -1 (none)", loss)
	}
	// Tracks that did receive: the worst counts.
	l.report(rtcp.ReceptionReport{SSRC: 2, FractionLost: 10, LastSequenceNumber: 950}, true)
	l.report(rtcp.ReceptionReport{SSRC: 1, FractionLost: 5, LastSequenceNumber: 550}, true)
	if loss, _, _ := l.take(); loss != 10.0/256 {
		t.Errorf("loss %.4f, want the worst track's %.4f", loss, 10.0/256)
	}
}
