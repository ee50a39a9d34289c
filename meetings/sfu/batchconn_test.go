package sfu

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

func udpPair(t *testing.T) (*batchConn, *batcher, *net.UDPConn) {
	t.Helper()
	a, err := listenUDP(net.IPv4(127, 0, 0, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	b := &batcher{}
	c := newBatchConn(a, b)
	t.Cleanup(func() { _ = c.Close() })
	return c, b, peer
}

// recvAll reads what arrives at peer until nothing has for wait (scaled by
// hubtest.Timeout).
func recvAll(t *testing.T, peer *net.UDPConn, wait time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 2048)
	for {
		_ = peer.SetReadDeadline(time.Now().Add(hubtest.Timeout(wait)))
		n, err := peer.Read(buf)
		if err != nil {
			return got
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
}

// Writes made under a hold are sent, in order, when the last hold is
// released; a write with no hold taken is sent at once.
func TestBatchConnHoldsAndFlushes(t *testing.T) {
	c, b, peer := udpPair(t)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()

	b.hold()
	b.hold()
	for i := range 10 {
		if _, err := c.WriteToAddrPort([]byte(fmt.Sprintf("p%02d", i)), to); err != nil {
			t.Fatal(err)
		}
	}
	if got := recvAll(t, peer, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d packets left while held", len(got))
	}
	b.release()
	if got := recvAll(t, peer, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d packets left while still held once", len(got))
	}
	b.release()
	got := recvAll(t, peer, 500*time.Millisecond)
	if len(got) != 10 {
		t.Fatalf("got %d packets after release, want 10", len(got))
	}
	for i, p := range got {
		if want := fmt.Sprintf("p%02d", i); string(p) != want {
			t.Fatalf("packet %d is %q, want %q", i, p, want)
		}
	}

	if _, err := c.WriteToAddrPort([]byte("now"), to); err != nil {
		t.Fatal(err)
	}
	if got := recvAll(t, peer, 500*time.Millisecond); len(got) != 1 || string(got[0]) != "now" {
		t.Fatalf("unheld write: got %q", got)
	}
}

// A burst larger than one sendmmsg under a hold still arrives whole, and
// packets larger than a pool buffer bypass the queue.
func TestBatchConnLongBurstAndLargePacket(t *testing.T) {
	c, b, peer := udpPair(t)
	_ = peer.SetReadBuffer(1 << 20)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	b.hold()
	for i := range 3*batchMax + 5 {
		_, _ = c.WriteToAddrPort([]byte(fmt.Sprintf("%04d", i)), to)
	}
	big := bytes.Repeat([]byte{7}, 1600)
	_, _ = c.WriteToAddrPort(big, to) // not queued
	b.release()
	got := recvAll(t, peer, 500*time.Millisecond)
	if len(got) != 3*batchMax+6 {
		t.Fatalf("got %d packets, want %d", len(got), 3*batchMax+6)
	}
	seen := 0
	for _, p := range got {
		if len(p) == 1600 {
			continue
		}
		if want := fmt.Sprintf("%04d", seen); string(p) != want {
			t.Fatalf("packet %d is %q, want %q", seen, p, want)
		}
		seen++
	}
}

// Reading returns the datagram and its sender; after Close nothing is sent
// and nothing panics.
func TestBatchConnReadAndClose(t *testing.T) {
	c, b, peer := udpPair(t)
	self := c.LocalAddr().(*net.UDPAddr).AddrPort()
	if _, err := peer.WriteToUDPAddrPort([]byte("hello"), self); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(2 * time.Second)))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFromAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort(peer.LocalAddr().String())
	if string(buf[:n]) != "hello" || from != want {
		t.Fatalf("read %q from %v, want %q from %v", buf[:n], from, "hello", want)
	}

	b.hold()
	_, _ = c.WriteToAddrPort([]byte("late"), peer.LocalAddr().(*net.UDPAddr).AddrPort())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b.release()
	if got := recvAll(t, peer, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("sent %q after close", got)
	}
	if _, _, err := c.ReadFromAddrPort(buf); err == nil {
		t.Fatal("read after close succeeded")
	}
}

// Past batchQueue packets waiting, writes are dropped and counted, and
// what was queued still goes out.
func TestBatchConnQueueFullDropsAndCounts(t *testing.T) {
	c, b, peer := udpPair(t)
	_ = peer.SetReadBuffer(4 << 20)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	b.hold()
	c.mu.Lock() // fill the queue as a long burst whose sender is behind would
	for range batchQueue {
		bp := bufPool.Get().(*[]byte)
		c.pending = append(c.pending, outPacket{buf: bp, n: 4, addr: to})
	}
	c.mu.Unlock()
	for range 10 {
		_, _ = c.WriteToAddrPort([]byte("over"), to)
	}
	if got := c.dropped.Load(); got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
	b.release()
	c.mu.Lock()
	left := len(c.pending)
	c.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d packets still queued after release", left)
	}
}
