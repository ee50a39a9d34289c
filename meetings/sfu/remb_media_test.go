package sfu_test

import (
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/sfu"
	"github.com/communehub/communehub/meetings/sfu/sfutest"
)

// participantStats returns one participant's statistics.
func participantStats(e *sfu.Engine, room, id string) (sfu.ParticipantStats, bool) {
	st, _ := e.Stats(room)
	for _, p := range st.Participants {
		if p.ID == id {
			return p, true
		}
	}
	return sfu.ParticipantStats{}, false
}

// cameraLayer returns the layer a participant receives of the camera it
// subscribes to, -2 when it has none.
func cameraLayer(p sfu.ParticipantStats) int {
	for _, s := range p.Subscribed {
		if s.Kind == "video" {
			return s.Layer
		}
	}
	return -2
}

// Subscribers that negotiate abs-send-time get it on every packet, and the
// level each is sent follows its REMB: one whose estimate cannot carry the
// high layer (300 kbit/s) ends on the low layer, one whose estimate cannot
// carry the low layer ends with audio only, while one with an ample
// estimate stays on the high layer throughout. The stats show each
// estimate.
func TestREMBChoosesEachSubscribersLayer(t *testing.T) {
	hubtest.SkipShort(t, "a long media run")
	e := newEngine(t)
	pub, _ := join(t, e, "m", "pub", sfutest.Config{Audio: true, Video: true, Simulcast: true})
	ample, _ := join(t, e, "m", "ample", sfutest.Config{AbsSendTime: true})
	narrow, _ := join(t, e, "m", "narrow", sfutest.Config{AbsSendTime: true})
	tiny, _ := join(t, e, "m", "tiny", sfutest.Config{AbsSendTime: true})
	plain, _ := join(t, e, "m", "plain", sfutest.Config{})
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "everyone receives video", func() bool {
		return ample.Frames() > 5 && narrow.Frames() > 5 && tiny.Frames() > 5 && plain.Frames() > 5
	})
	for _, b := range []*sfutest.Bot{ample, narrow, tiny} {
		for _, rt := range b.Tracks() {
			if n, all := rt.SendTimes.Load(), rt.Packets.Load(); n != all {
				t.Fatalf("%s track: %d of %d packets carried abs-send-time", rt.Kind, n, all)
			}
		}
	}
	for _, rt := range plain.Tracks() {
		if n := rt.SendTimes.Load(); n != 0 {
			t.Fatalf("abs-send-time sent to a subscriber that did not negotiate it (%d packets)", n)
		}
	}
	ample.SetREMB(10_000_000)
	narrow.SetREMB(200_000)
	tiny.SetREMB(30_000)
	highThroughout := func() {
		p, _ := participantStats(e, "m", "ample")
		if p.Level != "high" || cameraLayer(p) != 1 {
			t.Fatalf("ample estimate: level %s, camera layer %d", p.Level, cameraLayer(p))
		}
	}
	waitFor(t, 20*time.Second, "a 200 kbit/s estimate ends on the low layer", func() bool {
		highThroughout()
		p, _ := participantStats(e, "m", "narrow")
		return p.Level == "low" && cameraLayer(p) == 0
	})
	waitFor(t, 20*time.Second, "a 30 kbit/s estimate ends with audio only", func() bool {
		highThroughout()
		p, _ := participantStats(e, "m", "tiny")
		return p.Level == "audio" && cameraLayer(p) == -1
	})
	for id, want := range map[string]uint64{"ample": 10_000_000, "narrow": 200_000, "tiny": 30_000, "plain": 0} {
		if p, _ := participantStats(e, "m", id); p.REMBBps != want {
			t.Errorf("%s: stats show an estimate of %d bit/s, want %d", id, p.REMBBps, want)
		}
	}
	a := tiny.Received("audio")
	waitFor(t, 10*time.Second, "audio still reaches the audio-only subscriber", func() bool { return tiny.Received("audio") > a+20 })
	if q := tiny.Quality(); q["audioOnly"] != true || q["auto"] != true {
		t.Errorf("audio-only subscriber told %v", q)
	}
	// The estimate recovers: the subscriber climbs back to the high layer.
	narrow.SetREMB(10_000_000)
	waitFor(t, 20*time.Second, "back on the high layer once the estimate carries it", func() bool {
		highThroughout()
		p, _ := participantStats(e, "m", "narrow")
		return p.Level == "high" && cameraLayer(p) == 1
	})
}
