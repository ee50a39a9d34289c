package sfu_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
	"github.com/communehub/communehub/meetings/sfu"
	"github.com/communehub/communehub/meetings/sfu/sfutest"
)

func newEngine(t testing.TB, mod ...func(*sfu.Config)) *sfu.Engine {
	t.Helper()
	cfg := sfu.Config{ListenIP: "127.0.0.1", Loopback: true, TCPPort: -1}
	for _, m := range mod {
		m(&cfg)
	}
	var h slog.Handler = slog.NewTextHandler(io.Discard, nil)
	if os.Getenv("SFU_DEBUG") != "" {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	e, err := sfu.New(cfg, sfu.Hooks{}, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func join(t testing.TB, e *sfu.Engine, room, id string, cfg sfutest.Config) (*sfutest.Bot, *sfu.Participant) {
	t.Helper()
	b, p, err := sfutest.Join(e, room, id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); b.Close() })
	return b, p
}

// waitFor polls cond until it holds, failing the test after d (scaled by
// hubtest.Timeout, as hubtest.WaitFor does). d bounds a
// wait for something that must happen, not how fast (speed is measured by
// cmd/meetbench): joins and first frames wait 20 s, because on a CI runner
// busy with other packages' browsers a join under -race can take seconds.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	hubtest.WaitFor(t, d, cond, what)
}

// waitForBot is waitFor for a condition on bot b in room; on a timeout it
// says what b has (packets, frames, connection, down tracks, errors) and
// what the room's stats show, to tell a lost stream from a slow join.
func waitForBot(t testing.TB, e *sfu.Engine, room string, b *sfutest.Bot, d time.Duration, what string, cond func() bool) {
	t.Helper()
	d = hubtest.Timeout(d)
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			st, _ := e.Stats(room)
			raw, _ := json.Marshal(st)
			own, server := b.Errors()
			t.Fatalf("timed out after %v waiting for %s: the bot has %d video and %d audio packets, %d frames, connected %v, %d offers answered, down tracks %v, errors %v / %q; room %s",
				d, what, b.Received("video"), b.Received("audio"), b.Frames(), b.Connected(), b.OffersSeen(), b.DownTracks(), own, server, raw)
		}
		time.Sleep(20 * time.Millisecond) // sleep: the polling interval
	}
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*q)]
}

// Three participants each publish audio and a simulcast camera; each
// receives the other two, with measured join time and forwarding latency.
func TestThreeParticipantsReceiveEachOther(t *testing.T) {
	e := newEngine(t)
	var bots []*sfutest.Bot
	for i := range 3 {
		b, _ := join(t, e, "m1", fmt.Sprintf("p%d", i), sfutest.Config{Audio: true, Video: true, Simulcast: true})
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		bots = append(bots, b)
	}
	for i, b := range bots {
		waitFor(t, 10*time.Second, fmt.Sprintf("bot %d receives 2 audio and 2 video tracks", i), func() bool {
			a, v := 0, 0
			for _, tr := range b.Tracks() {
				if tr.Packets.Load() > 20 {
					if tr.Kind == "audio" {
						a++
					} else {
						v++
					}
				}
			}
			return a == 2 && v == 2
		})
		waitFor(t, 20*time.Second, "frames", func() bool { return b.Frames() > 10 })
		ff, ok := b.FirstFrame()
		if !ok {
			t.Fatalf("bot %d: no first frame", i)
		}
		lat := b.Latencies()
		t.Logf("bot %d: join→first remote frame %v; forwarding latency p50 %v p99 %v (%d samples)",
			i, ff.Round(time.Millisecond), percentile(lat, .5), percentile(lat, .99), len(lat))
		if ff > 3*time.Second { // generous for -race on a busy CI box; cmd/meetbench measures the real figure
			t.Errorf("bot %d: first frame after %v", i, ff)
		}
		if p99 := percentile(lat, .99); p99 > time.Second {
			t.Errorf("bot %d: forwarding latency p99 %v", i, p99)
		}
		if own, srv := b.Errors(); len(own) > 0 || srv != "" {
			t.Errorf("bot %d errors: %v %s", i, own, srv)
		}
	}
	st, ok := e.Stats("m1")
	if !ok || len(st.Participants) != 3 || st.ForwardedPackets == 0 {
		t.Fatalf("stats: %+v", st)
	}
	for _, p := range st.Participants {
		if len(p.Published) != 2 || len(p.Subscribed) != 4 {
			t.Errorf("participant %s: %d published, %d subscribed", p.ID, len(p.Published), len(p.Subscribed))
		}
		for _, s := range p.Subscribed {
			if s.Kind == "video" && s.Layer != 1 {
				t.Errorf("participant %s gets layer %d of %s on a clean link", p.ID, s.Layer, s.Track)
			}
		}
	}
}
