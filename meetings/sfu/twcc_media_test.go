package sfu_test

import (
	"testing"
	"time"

	"github.com/communehub/communehub/meetings/sfu"
	"github.com/communehub/communehub/meetings/sfu/sfutest"
)

// publishedPackets is what the SFU has received from a participant.
func publishedPackets(e *sfu.Engine, room, id string) uint64 {
	p, _ := participantStats(e, room, id)
	var n uint64
	for _, pub := range p.Published {
		for _, l := range pub.Layers {
			n += l.Packets
		}
	}
	return n
}

// A publisher that numbers its packets transport-wide, as browsers do for
// their congestion control, gets feedback about ten times a second that
// reports the packets the SFU received: audio and both simulcast layers.
func TestTransportFeedbackReachesThePublisher(t *testing.T) {
	e := newEngine(t)
	pub, _ := join(t, e, "m", "pub", sfutest.Config{Audio: true, Video: true, Simulcast: true, TransportCC: true})
	sub, _ := join(t, e, "m", "sub", sfutest.Config{})
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the subscriber receives video", func() bool { return sub.Frames() > 5 })
	fb0, acked0 := pub.TransportFeedback()
	recv0 := publishedPackets(e, "m", "pub")
	const window = 3 * time.Second
	time.Sleep(window) // sleep: the period measured
	fb1, acked1 := pub.TransportFeedback()
	recv1 := publishedPackets(e, "m", "pub")
	fbs, acked, recv := fb1-fb0, acked1-acked0, recv1-recv0
	t.Logf("%d feedback packets in %v reporting %d packets; the SFU received %d", fbs, window, acked, recv)
	if perSec := float64(fbs) / window.Seconds(); perSec < 5 || perSec > 15 {
		t.Fatalf("%.1f feedback packets/s, want about 10", perSec)
	}
	if recv < 200 {
		t.Fatalf("the SFU received only %d packets in %v", recv, window)
	}
	// The two counts are taken at slightly different moments: allow 10 %.
	if float64(acked) < 0.9*float64(recv) || float64(acked) > 1.1*float64(recv) {
		t.Fatalf("feedback reported %d packets received, the SFU received %d", acked, recv)
	}
}
