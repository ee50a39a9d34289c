//go:build !linux

package sfu

import (
	"net"
	"net/netip"
)

// mmsgSender sends one packet per system call where sendmmsg(2) is not
// available.
type mmsgSender struct{ conn *net.UDPConn }

func (s *mmsgSender) init(c *net.UDPConn) { s.conn = c }

func (s *mmsgSender) send(ps []outPacket) (int, bool) {
	for _, p := range ps {
		_, _ = s.conn.WriteToUDPAddrPort((*p.buf)[:p.n], p.addr)
	}
	return len(ps), false
}

// rawReader is not available here: the socket's own method is used.
type rawReader struct{}

func (r *rawReader) init(*net.UDPConn) {}

func (r *rawReader) ok() bool { return false }

func (r *rawReader) read([]byte) (int, netip.AddrPort, error) { return 0, netip.AddrPort{}, nil }
