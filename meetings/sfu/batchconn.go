package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// batchConn is the media UDP socket. Writes are queued and sent by one
// flusher goroutine with sendmmsg, many packets per system call: a packet
// forwarded to N subscribers becomes N writes in a row, and the system call
// per packet was half of the SFU's CPU. A write never blocks; when the
// queue is full (the kernel cannot take more) the packet is dropped, as the
// network would drop it.
type batchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	mu      sync.Mutex
	pending []ipv4.Message
	bufs    []*[]byte                       // pool buffers of pending, in parallel
	addrs   map[netip.AddrPort]*net.UDPAddr // destinations, to not allocate one per packet
	ready   chan struct{}
	done    chan struct{}
	stopped chan struct{}
	closing sync.Once

	dropped atomic.Uint64
}

const (
	batchMax   = 64   // packets per sendmmsg
	batchQueue = 8192 // packets waiting before drops
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1500); return &b }}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), ready: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go b.flushLoop()
	return b
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteToAddrPort implements ice.AddrPortReaderWriter: it queues a copy.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > 1500 {
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:len(p)]
	copy(buf, p)
	b.mu.Lock()
	if len(b.pending) >= batchQueue {
		b.mu.Unlock()
		bufPool.Put(bp)
		b.dropped.Add(1)
		return len(p), nil
	}
	ua := b.addrs[addr]
	if ua == nil {
		if b.addrs == nil || len(b.addrs) > 4096 {
			b.addrs = map[netip.AddrPort]*net.UDPAddr{}
		}
		ua = net.UDPAddrFromAddrPort(addr)
		b.addrs[addr] = ua
	}
	b.pending = append(b.pending, ipv4.Message{Buffers: [][]byte{buf}, Addr: ua})
	b.bufs = append(b.bufs, bp)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return len(p), nil
}

// WriteTo implements net.PacketConn through the queue.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return b.UDPConn.WriteTo(p, addr)
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

func (b *batchConn) flushLoop() {
	defer close(b.stopped)
	var batch []ipv4.Message
	var bufs []*[]byte
	for {
		select {
		case <-b.ready:
		case <-b.done:
			return
		}
		for {
			b.mu.Lock()
			batch, b.pending = b.pending, batch[:0]
			bufs, b.bufs = b.bufs, bufs[:0]
			b.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for i := 0; i < len(batch); {
				end := min(i+batchMax, len(batch))
				_ = b.UDPConn.SetWriteDeadline(time.Now().Add(time.Second))
				n, err := b.pc.WriteBatch(batch[i:end], 0)
				if err != nil || n <= 0 {
					n = 1 // skip the packet the kernel refused
				}
				i += n
			}
			for i := range batch {
				bufPool.Put(bufs[i])
				batch[i], bufs[i] = ipv4.Message{}, nil
			}
		}
	}
}

// Close stops the flusher and closes the socket.
func (b *batchConn) Close() error {
	b.closing.Do(func() { close(b.done) })
	<-b.stopped
	return b.UDPConn.Close()
}
