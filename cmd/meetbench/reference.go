package main

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"net"
	"time"
)

// The host this runs on (a shared virtual machine) changes speed by up to
// a factor of two from hour to hour, so a figure means little without the
// host's speed at the time. hostReference measures two fixed workloads that
// make up most of what the SFU spends per forwarded packet — encrypting it
// (SRTP is AES-GCM) and the kernel's loopback UDP path — before the
// scenario starts, and meetbench prints them with its results.

// reference is the host's speed when the benchmark ran.
type reference struct {
	seal time.Duration // one AES-128-GCM seal of an 1,100-byte packet
	udp  time.Duration // one 1,100-byte UDP datagram sent and received on loopback
}

func (r reference) String() string {
	return fmt.Sprintf("host reference: AES-GCM seal of 1100 B %d ns, loopback UDP send+receive of 1100 B %.1f µs",
		r.seal.Nanoseconds(), float64(r.udp.Nanoseconds())/1000)
}

// hostReference measures the host, in well under a second; of three rounds
// of each workload the fastest counts, as for any micro-benchmark.
func hostReference() (reference, error) {
	var r reference
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		return r, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return r, err
	}
	payload, nonce := make([]byte, 1100), make([]byte, gcm.NonceSize())
	out := make([]byte, 0, 1100+gcm.Overhead())
	r.seal = fastest(func(n int) {
		for i := range n {
			nonce[0] = byte(i)
			out = gcm.Seal(out[:0], nonce, payload, payload[:12])
		}
	}, 50_000)

	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return r, err
	}
	defer a.Close()
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return r, err
	}
	defer b.Close()
	to := b.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 1500)
	var ioErr error
	r.udp = fastest(func(n int) {
		for range n {
			if _, err := a.WriteToUDPAddrPort(payload, to); err != nil {
				ioErr = err
				return
			}
			if _, _, err := b.ReadFromUDPAddrPort(buf); err != nil {
				ioErr = err
				return
			}
		}
	}, 20_000)
	return r, ioErr
}

// fastest runs f(n) three times and returns the shortest time per unit.
func fastest(f func(n int), n int) time.Duration {
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		f(n)
		best = min(best, time.Since(start)/time.Duration(n))
	}
	return best
}
