package sfu

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// A gap is asked for when the packet after it arrives, asked again no
// sooner than every nackRetryMin (or the round trip, when longer), and
// no longer once it arrives.
func TestNACKRequester(t *testing.T) {
	var n nackRequester
	step := func(ext uint64, at int64, rtt time.Duration, want ...uint16) {
		t.Helper()
		got := n.onPacket(ext, at, rtt)
		if !slices.Equal(got, want) {
			t.Fatalf("packet %d at %d ms: asked %v, want %v", ext, at/ms, got, want)
		}
	}
	step(100, 0, 0)
	step(101, 1*ms, 0)
	step(104, 2*ms, 0, 102, 103)            // the gap, at once
	step(105, 12*ms, 0)                     // not due again yet
	step(106, 52*ms, 0, 102, 103)           // 50 ms later
	step(102, 60*ms, 0)                     // the repair: no longer missing
	step(107, 102*ms, 0, 103)               // only what is still missing
	step(108, 130*ms, 200*time.Millisecond) // a long round trip waits longer
	step(109, 301*ms, 200*time.Millisecond)
	step(110, 302*ms, 200*time.Millisecond, 103)
	step(103, 303*ms, 0)
	step(111, 900*ms, 0)
	if len(n.missing) != 0 {
		t.Fatalf("still missing %v", n.missing)
	}
	// Sequence numbers wrap; the extended ones go on.
	n = nackRequester{}
	step(65533, 0, 0)
	step(65534, ms, 0)
	step(65537, 2*ms, 0, 65535, 0)
}

// What falls out of the window is given up, and a burst longer than the
// window is asked for from its last nackWindow packets.
func TestNACKRequesterWindow(t *testing.T) {
	var n nackRequester
	n.onPacket(1000, 0, 0)
	if got := n.onPacket(1002, ms, 0); !slices.Equal(got, []uint16{1001}) {
		t.Fatalf("asked %v", got)
	}
	for s := uint64(1003); s <= 1001+nackWindow; s++ {
		n.onPacket(s, 2*ms, 0)
	}
	if len(n.missing) != 1 {
		t.Fatalf("missing %v, want 1001 still", n.missing)
	}
	n.onPacket(1002+nackWindow, 3*ms, 0)
	if len(n.missing) != 0 {
		t.Fatalf("1001 kept past the window: %v", n.missing)
	}
	got := n.onPacket(5000, 4*ms, 0)
	if len(got) != nackWindow || got[0] != uint16(5000-nackWindow) || got[len(got)-1] != 4999 {
		t.Fatalf("a long burst: asked %d packets, %v … %v", len(got), got[0], got[len(got)-1])
	}
}

// Whatever a publisher sends, the requester keeps its missing list
// ascending, unique and inside the window, and asks only for what it
// lists.
func FuzzNACKRequester(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 5, 0, 3, 1, 0})
	f.Add([]byte{255, 255, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var n nackRequester
		var last uint64 = 1 << 32
		started := false
		for i := 0; i+1 < len(data); i += 2 {
			seq := binary.BigEndian.Uint16(data[i:])
			ext := uint64(int64(last) + int64(int16(seq-uint16(last))))
			if !started {
				ext, started = 1<<32+uint64(seq), true
			}
			last = max(last, ext)
			asked := n.onPacket(ext, int64(i)*10*ms, 0)
			if len(n.missing) > nackWindow {
				t.Fatalf("%d missing", len(n.missing))
			}
			for j, e := range n.missing {
				if j > 0 && e.ext <= n.missing[j-1].ext {
					t.Fatalf("missing not ascending: %v", n.missing)
				}
				if e.ext+nackWindow < n.highest || e.ext >= n.highest {
					t.Fatalf("missing %d outside the window below %d", e.ext, n.highest)
				}
			}
			for _, s := range asked {
				if !slices.ContainsFunc(n.missing, func(e nackEntry) bool { return uint16(e.ext) == s }) {
					t.Fatalf("asked for %d, not missing", s)
				}
			}
		}
	})
}
