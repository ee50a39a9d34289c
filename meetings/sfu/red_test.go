package sfu

import (
	"bytes"
	"testing"
)

func TestREDPrimary(t *testing.T) {
	prev, cur := []byte("previous frame"), []byte("current frame")
	one := append([]byte{0x80 | 111, 960 >> 6, (960&0x3f)<<2 | byte(len(prev)>>8), byte(len(prev)), 111}, prev...)
	one = append(one, cur...)
	two := append([]byte{0x80 | 111, 1920 >> 6, (1920&0x3f)<<2 | 0, 3, 0x80 | 111, 960 >> 6, (960&0x3f)<<2 | 0, 2, 111}, "aaabb"...)
	two = append(two, cur...)
	for _, c := range []struct {
		name string
		in   []byte
		want []byte
		ok   bool
	}{
		{"primary only", append([]byte{111}, cur...), cur, true},
		{"one redundant frame", one, cur, true},
		{"two redundant frames", two, cur, true},
		{"empty primary (DTX)", []byte{111}, []byte{}, true},
		{"empty", nil, nil, false},
		{"header cut short", []byte{0x80 | 111, 0x0f}, nil, false},
		{"no final header", []byte{0x80 | 111, 0, 0, 0}, nil, false},
		{"redundant block longer than the packet", []byte{0x80 | 111, 0, 0, 200, 111, 1, 2}, nil, false},
	} {
		got, ok := redPrimary(c.in)
		if ok != c.ok || !bytes.Equal(got, c.want) {
			t.Errorf("%s: %q %v, want %q %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// A RED payload comes from a publisher's browser: whatever it holds, the
// primary is a tail of it or the packet is refused, never a panic.
func FuzzREDPrimary(f *testing.F) {
	f.Add([]byte{111, 1, 2, 3})
	f.Add([]byte{0x80 | 111, 0x0f, 0x00, 0x02, 111, 9, 9, 1})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := redPrimary(b)
		if ok && !bytes.HasSuffix(b, p) {
			t.Fatalf("primary %x is not a tail of %x", p, b)
		}
	})
}

// For a subscriber that negotiated RED the packet goes as it came, with
// its payload type; for one that did not, only the primary Opus frame.
func TestREDForEachSubscriber(t *testing.T) {
	red := append([]byte{0x80 | 111, 15, 0, 2, 111, 'p', 'p'}, "now"...)
	if pt, p, ok := redFor(red, 111, 63); !ok || pt != 63 || !bytes.Equal(p, red) {
		t.Errorf("RED subscriber: pt %d %q %v", pt, p, ok)
	}
	if pt, p, ok := redFor(red, 111, 0); !ok || pt != 111 || string(p) != "now" {
		t.Errorf("Opus-only subscriber: pt %d %q %v", pt, p, ok)
	}
	if _, _, ok := redFor([]byte{0x80}, 111, 0); ok {
		t.Error("a malformed RED packet was forwarded to an Opus-only subscriber")
	}
}
