//go:build linux

package sfu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgSender sends batches with sendmmsg(2) called directly, without
// entering the Go scheduler's system-call path: the socket is written with
// MSG_DONTWAIT, so the call never blocks, and skipping entersyscall spares
// a wake-up of the runtime's monitor thread on every batch, which on a
// virtual machine cost more than the call itself. Its buffers are reused
// from batch to batch; the owner serialises calls.
type mmsgSender struct {
	fd    int
	hdrs  [batchMax]unix.Mmsghdr
	iovs  [batchMax]unix.Iovec
	names [batchMax]unix.RawSockaddrAny
}

func (s *mmsgSender) init(u *udpSocket) { s.fd = u.fd }

// send writes ps (at most batchMax) and returns how many the kernel took,
// always at least one so a refused packet is skipped, and whether the
// socket's send queue was full.
func (s *mmsgSender) send(ps []outPacket) (int, bool) {
	k := 0
	for _, p := range ps {
		nl := sockaddr(&s.names[k], p)
		if nl == 0 {
			break // not IPv4: the socket cannot reach it
		}
		s.iovs[k] = unix.Iovec{Base: &(*p.buf)[0]}
		s.iovs[k].SetLen(p.n)
		s.hdrs[k] = unix.Mmsghdr{Hdr: unix.Msghdr{
			Name: (*byte)(unsafe.Pointer(&s.names[k])), Namelen: nl,
			Iov: &s.iovs[k], Iovlen: 1,
		}}
		k++
	}
	if k == 0 {
		return 1, false
	}
	r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
		uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(k), unix.MSG_DONTWAIT, 0, 0)
	for i := range k {
		s.iovs[i].Base = nil
	}
	switch {
	case errno == syscall.EAGAIN:
		return 0, true
	case errno != 0 || r == 0:
		return 1, false
	}
	return int(r), false
}

// sockaddr fills sa with p's destination and returns its length, or 0 for
// an address family the socket cannot reach.
func sockaddr(sa *unix.RawSockaddrAny, p outPacket) uint32 {
	a := p.addr.Addr().Unmap()
	if !a.Is4() {
		return 0
	}
	in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	*in = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&in.Port))[:], p.addr.Port())
	return unix.SizeofSockaddrInet4
}

// udpSocket is the media UDP socket: a raw socket that Go's poller never
// sees. The poller watches instead an epoll instance of our own, which
// watches the socket for input only.
//
// Go registers every socket it polls for both input and output, edge-
// triggered, and a UDP socket signals "writable" each time the kernel
// frees a datagram it has sent. So every sendmmsg woke the poller's thread
// when it was asleep, only to find nobody waiting to write: about one
// useless wake-up per batch, a thousand a second in a 10-person meeting.
// The inner epoll drops those signals; a datagram arriving still wakes the
// poller, through the inner epoll becoming readable.
//
// It reads with recvfrom(2) called directly, for the same reason as
// mmsgSender: every received packet went through the scheduler's
// system-call path and woke its monitor thread. One goroutine reads (the
// ICE mux's), so the read state lives here and the callback allocates
// nothing.
type udpSocket struct {
	fd    int
	laddr *net.UDPAddr
	ep    *os.File        // the inner epoll; closing it ends a waiting read
	rc    syscall.RawConn // ep's

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool

	// the read in progress, owned by the reading goroutine
	fn    func(fd uintptr) bool
	buf   []byte
	n     int
	from  unix.RawSockaddrInet6 // large enough for either family
	errno syscall.Errno
}

// listenUDP opens the media socket on ip (IPv4) and port (0: any).
func listenUDP(ip net.IP, port int) (*udpSocket, error) {
	ip4 := ip.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("listen udp %s: not an IPv4 address", ip)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	s := &udpSocket{fd: fd}
	if err := s.open(ip4, port); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("listen udp %s: %w", net.JoinHostPort(ip.String(), strconv.Itoa(port)), err)
	}
	s.fn = s.recv
	return s, nil
}

func (s *udpSocket) open(ip4 net.IP, port int) error {
	sa := &unix.SockaddrInet4{Port: port}
	copy(sa.Addr[:], ip4)
	if err := unix.Bind(s.fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	got, err := unix.Getsockname(s.fd)
	if err != nil {
		return os.NewSyscallError("getsockname", err)
	}
	in, ok := got.(*unix.SockaddrInet4)
	if !ok {
		return fmt.Errorf("getsockname: unexpected %T", got)
	}
	s.laddr = &net.UDPAddr{IP: net.IPv4(in.Addr[0], in.Addr[1], in.Addr[2], in.Addr[3]), Port: in.Port}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		_ = unix.Close(epfd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor given to os.NewFile joins Go's poller.
	s.ep = os.NewFile(uintptr(epfd), "udp-media-epoll")
	if s.rc, err = s.ep.SyscallConn(); err != nil {
		_ = s.ep.Close()
		return err
	}
	return nil
}

func (s *udpSocket) recv(uintptr) bool {
	for {
		fl := uint32(unsafe.Sizeof(s.from))
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&s.from)), uintptr(unsafe.Pointer(&fl)))
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // nothing yet: wait for the poller
		}
		s.n, s.errno = int(n), errno
		return true
	}
}

// ReadFromAddrPort fills p with the next datagram. One goroutine reads.
func (s *udpSocket) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	if len(p) == 0 {
		return 0, netip.AddrPort{}, nil
	}
	s.buf = p
	err := s.rc.Read(s.fn)
	s.buf = nil
	if err != nil {
		if s.closed.Load() {
			err = net.ErrClosed // as a net.Conn says it, not the epoll's file
		}
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Addr: s.laddr, Err: err}
	}
	if s.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Addr: s.laddr, Err: os.NewSyscallError("recvfrom", s.errno)}
	}
	var from netip.AddrPort
	switch s.from.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.from))
		from = netip.AddrPortFrom(netip.AddrFrom4(in.Addr), netPort(&in.Port))
	case unix.AF_INET6:
		from = netip.AddrPortFrom(netip.AddrFrom16(s.from.Addr), netPort(&s.from.Port))
	}
	return s.n, from, nil
}

// ReadFrom implements net.PacketConn.
func (s *udpSocket) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := s.ReadFromAddrPort(p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteToAddrPort sends one datagram at once, without blocking: when the
// send queue is full it fails with an error that wraps syscall.EAGAIN.
func (s *udpSocket) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	a := addr.Addr().Unmap()
	if !a.Is4() {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: errors.New("not an IPv4 address")}
	}
	if err := unix.Sendto(s.fd, p, unix.MSG_DONTWAIT, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: a.As4()}); err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: os.NewSyscallError("sendto", err)}
	}
	return len(p), nil
}

// WriteTo implements net.PacketConn.
func (s *udpSocket) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("not a UDP address")}
	}
	return s.WriteToAddrPort(p, ua.AddrPort())
}

// LocalAddr implements net.PacketConn.
func (s *udpSocket) LocalAddr() net.Addr { return s.laddr }

// SetDeadline implements net.PacketConn: writes never block, so only the
// read deadline means anything.
func (s *udpSocket) SetDeadline(t time.Time) error { return s.ep.SetReadDeadline(t) }

// SetReadDeadline implements net.PacketConn.
func (s *udpSocket) SetReadDeadline(t time.Time) error { return s.ep.SetReadDeadline(t) }

// SetWriteDeadline implements net.PacketConn; writes never block.
func (s *udpSocket) SetWriteDeadline(time.Time) error { return nil }

// SetReadBuffer sets the socket's receive buffer size.
func (s *udpSocket) SetReadBuffer(n int) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n))
}

// SetWriteBuffer sets the socket's send buffer size.
func (s *udpSocket) SetWriteBuffer(n int) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n))
}

// Close ends a waiting read and closes the socket. Closing the inner epoll
// waits for a read in progress to return, so the socket is not closed
// under it; writers are the caller's to stop first (batchConn does).
func (s *udpSocket) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.ep.Close()
		if err := unix.Close(s.fd); err != nil && s.closeErr == nil {
			s.closeErr = os.NewSyscallError("close", err)
		}
	})
	return s.closeErr
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:])
}
