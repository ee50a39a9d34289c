package sfu

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// batchConn is the media UDP socket. Packets are sent with sendmmsg, many
// per system call: a packet forwarded to N subscribers becomes N writes in
// a row, and one system call per packet was half of the SFU's CPU.
//
// Batches are formed without a goroutine of their own. A goroutine about
// to write a burst (a layer's reader forwarding one packet to its
// subscribers, a fan-out worker writing a chunk, a NACK answer) takes a
// hold on the Engine's batcher; writes made while any hold is taken are
// queued, and the goroutine that releases the last hold sends the queue.
// A write made with no hold taken (ICE, DTLS, RTCP) sends at once, with
// whatever else is queued. Handing each burst to a flusher goroutine
// instead cost a wake-up and usually a small batch per burst.
//
// A write never blocks: the socket is written with MSG_DONTWAIT, and when
// the kernel cannot take more, or too many packets are queued, the packet
// is dropped and counted, as the network would drop it.
type batchConn struct {
	*udpSocket
	b *batcher

	mu      sync.Mutex
	pending []outPacket

	flushMu sync.Mutex // one sender at a time, so a destination's packets stay in order
	batch   []outPacket
	sender  mmsgSender // owned under flushMu
	closed  bool       // under flushMu

	dropped atomic.Uint64
}

// outPacket is one queued datagram: a pool buffer and its destination.
type outPacket struct {
	buf  *[]byte
	n    int
	addr netip.AddrPort
}

const (
	batchMax   = 64   // packets per sendmmsg
	batchQueue = 8192 // packets waiting before drops
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1500); return &b }}

// batcher holds back the writes of an Engine's media sockets while a burst
// is being written; see batchConn.
type batcher struct {
	holds atomic.Int32
	conns []*batchConn // set while the Engine opens its sockets, read-only after
}

// hold starts a burst; every hold must be released.
func (b *batcher) hold() {
	if b != nil {
		b.holds.Add(1)
	}
}

// release ends a burst; the last one out sends what is queued.
func (b *batcher) release() {
	if b != nil && b.holds.Add(-1) == 0 {
		for _, c := range b.conns {
			c.flush()
		}
	}
}

func newBatchConn(s *udpSocket, b *batcher) *batchConn {
	bc := &batchConn{udpSocket: s, b: b}
	bc.sender.init(s)
	b.conns = append(b.conns, bc)
	return bc
}

// WriteToAddrPort implements ice.AddrPortReaderWriter: it queues a copy,
// and sends the queue unless a burst is in progress.
func (c *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > 1500 {
		return c.writeLarge(p, addr)
	}
	bp := bufPool.Get().(*[]byte)
	copy(*bp, p)
	c.mu.Lock()
	if len(c.pending) >= batchQueue {
		c.mu.Unlock()
		bufPool.Put(bp)
		c.dropped.Add(1)
		return len(p), nil
	}
	c.pending = append(c.pending, outPacket{buf: bp, n: len(p), addr: addr})
	n := len(c.pending)
	c.mu.Unlock()
	// A write seen with no hold taken happened after the last release
	// began, so nobody else is going to send it.
	if n >= batchMax || c.b.holds.Load() == 0 {
		c.flush()
	}
	return len(p), nil
}

// WriteTo implements net.PacketConn through the queue.
func (c *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.udpSocket.WriteTo(p, addr)
	}
	return c.WriteToAddrPort(p, ua.AddrPort())
}

// writeLarge sends a datagram too large for the queue's buffers at once,
// after what is queued. A full send queue drops it, counted.
func (c *batchConn) writeLarge(p []byte, addr netip.AddrPort) (int, error) {
	c.flush()
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	n, err := c.udpSocket.WriteToAddrPort(p, addr)
	if errors.Is(err, syscall.EAGAIN) {
		c.dropped.Add(1)
		return len(p), nil
	}
	return n, err
}

// flush sends everything queued so far.
func (c *batchConn) flush() {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	batch := c.pending
	c.pending = c.batch[:0]
	c.mu.Unlock()
	for i := 0; i < len(batch) && !c.closed; {
		n, full := c.sender.send(batch[i:min(i+batchMax, len(batch))])
		if full {
			c.dropped.Add(uint64(len(batch) - i)) // the kernel's queue is full
			break
		}
		i += n
	}
	for i := range batch {
		bufPool.Put(batch[i].buf)
		batch[i] = outPacket{}
	}
	c.batch = batch[:0]
}

// Close closes the socket; nothing is sent after it.
func (c *batchConn) Close() error {
	c.flushMu.Lock()
	c.closed = true
	c.flushMu.Unlock()
	return c.udpSocket.Close()
}
