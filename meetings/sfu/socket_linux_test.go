//go:build linux

package sfu

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
	"golang.org/x/sys/unix"
)

// The socket Go's poller would watch for output too is watched, through
// the inner epoll, for input only: /proc shows the inner epoll's interest.
func TestUDPSocketWatchedForInputOnly(t *testing.T) {
	s, err := listenUDP(net.IPv4(127, 0, 0, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var epfd int
	if err := s.rc.Control(func(fd uintptr) { epfd = int(fd) }); err != nil {
		t.Fatal(err)
	}
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", epfd))
	if err != nil {
		t.Skipf("no fdinfo here: %v", err)
	}
	var found bool
	for _, line := range strings.Split(string(info), "\n") {
		// tfd:        7 events:       19 data:                7  pos:0 ino:... sdev:...
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "tfd:" || f[1] != strconv.Itoa(s.fd) {
			continue
		}
		found = true
		ev, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil {
			t.Fatalf("fdinfo line %q: %v", line, err)
		}
		if ev&unix.EPOLLOUT != 0 || ev&unix.EPOLLIN == 0 {
			t.Fatalf("inner epoll watches events %#x, want input without output", ev)
		}
	}
	if !found {
		t.Fatalf("socket %d not in the inner epoll:\n%s", s.fd, info)
	}
}

// Reads honour the deadline, go on after it is lifted, and a read waiting
// when the socket closes returns.
func TestUDPSocketDeadlineAndClose(t *testing.T) {
	s, err := listenUDP(net.IPv4(127, 0, 0, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = s.SetReadDeadline(time.Now().Add(50 * time.Millisecond)) // deadline: the deadline under test
	if _, _, err := s.ReadFromAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a deadline error", err)
	}
	_ = s.SetReadDeadline(time.Time{})

	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("after"), s.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	n, from, err := s.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "after" || from.String() != peer.LocalAddr().String() {
		t.Fatalf("read %q from %v (%v), want %q from %v", buf[:n], from, err, "after", peer.LocalAddr())
	}

	done := make(chan error, 1)
	go func() {
		_, _, err := s.ReadFromAddrPort(buf)
		done <- err
	}()
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		return strings.Contains(hubtest.Stacks("TestUDPSocketDeadlineAndClose.func"), "runtime_pollWait")
	}, "the read to wait in the poller")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("waiting read ended with %v, want a closed error", err)
		}
	case <-time.After(hubtest.Timeout(5 * time.Second)):
		t.Fatal("a read waiting at Close did not return")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A port in use is refused with the bind error, and nothing leaks.
func TestUDPSocketPortInUse(t *testing.T) {
	a, err := listenUDP(net.IPv4(127, 0, 0, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	port := a.LocalAddr().(*net.UDPAddr).Port
	if b, err := listenUDP(net.IPv4(127, 0, 0, 1), port); err == nil {
		b.Close()
		t.Fatal("a second socket bound the same port")
	} else if !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("error %q, want address in use naming port %d", err, port)
	}
	if _, err := listenUDP(net.ParseIP("::1"), 0); err == nil {
		t.Fatal("an IPv6 address was accepted")
	}
}
