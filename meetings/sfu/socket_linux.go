//go:build linux

package sfu

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"syscall"
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
	conn  *net.UDPConn
	hdrs  [batchMax]unix.Mmsghdr
	iovs  [batchMax]unix.Iovec
	names [batchMax]unix.RawSockaddrAny
}

func (s *mmsgSender) init(c *net.UDPConn) {
	s.conn, s.fd = c, -1
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { s.fd = int(fd) })
	}
}

// send writes ps (at most batchMax) and returns how many the kernel took,
// always at least one so a refused packet is skipped, and whether the
// socket's send queue was full.
func (s *mmsgSender) send(ps []outPacket) (int, bool) {
	if s.fd < 0 {
		for _, p := range ps {
			_, _ = s.conn.WriteToUDPAddrPort((*p.buf)[:p.n], p.addr)
		}
		return len(ps), false
	}
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

// rawReader reads the socket with recvfrom(2) called directly, for the
// same reason as mmsgSender: every received packet went through the
// scheduler's system-call path and woke its monitor thread. When nothing is
// waiting the Go poller parks the reader as usual. One goroutine reads (the
// ICE mux's), so the state lives here and the callback allocates nothing.
type rawReader struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
	buf   []byte
	n     int
	from  unix.RawSockaddrInet6 // large enough for either family
	errno syscall.Errno
}

func (r *rawReader) init(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	r.rc = rc
	r.fn = r.recv
}

func (r *rawReader) recv(fd uintptr) bool {
	fl := uint32(unsafe.Sizeof(r.from))
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&fl)))
	if errno == syscall.EAGAIN || errno == syscall.EINTR {
		return false // wait for the poller (or retry)
	}
	r.n, r.errno = int(n), errno
	return true
}

// ok reports whether raw reading is available; if not, the socket's own
// method is used.
func (r *rawReader) ok() bool { return r.rc != nil }

// read fills p with the next datagram.
func (r *rawReader) read(p []byte) (int, netip.AddrPort, error) {
	if len(p) == 0 {
		return 0, netip.AddrPort{}, nil
	}
	r.buf = p
	err := r.rc.Read(r.fn)
	r.buf = nil
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if r.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", r.errno)}
	}
	var from netip.AddrPort
	switch r.from.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.from))
		from = netip.AddrPortFrom(netip.AddrFrom4(in.Addr), netPort(&in.Port))
	case unix.AF_INET6:
		from = netip.AddrPortFrom(netip.AddrFrom16(r.from.Addr), netPort(&r.from.Port))
	}
	return r.n, from, nil
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:])
}
