//go:build !linux

package sfu

import (
	"net"
	"net/netip"
)

// udpSocket is the media UDP socket: where the Linux system calls are not
// available, the standard library's.
type udpSocket struct{ *net.UDPConn }

// listenUDP opens the media socket on ip (IPv4) and port (0: any).
func listenUDP(ip net.IP, port int) (*udpSocket, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, err
	}
	return &udpSocket{c}, nil
}

// ReadFromAddrPort fills p with the next datagram.
func (s *udpSocket) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return s.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteToAddrPort sends one datagram.
func (s *udpSocket) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	return s.UDPConn.WriteToUDPAddrPort(p, addr)
}

// mmsgSender sends one packet per system call where sendmmsg(2) is not
// available.
type mmsgSender struct{ s *udpSocket }

func (m *mmsgSender) init(s *udpSocket) { m.s = s }

func (m *mmsgSender) send(ps []outPacket) (int, bool) {
	for _, p := range ps {
		_, _ = m.s.WriteToAddrPort((*p.buf)[:p.n], p.addr)
	}
	return len(ps), false
}
