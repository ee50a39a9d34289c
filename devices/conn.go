package devices

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// bufferedConn cuts the system calls of the hub's broker connection. paho
// reads each packet's header a byte at a time and writes every PUBACK with
// its own write: at 20,000 msg/s that is ~100,000 syscalls a second on each
// side. Reads go through a 64 KiB buffer; writes are gathered and flushed
// within flushDelay (or at once past 32 KiB), so a burst of PUBACKs leaves
// in one segment. paho reads from one goroutine and serialises its writes
// through one goroutine; the mutex guards the writer against the flush timer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	w       *bufio.Writer
	pending bool
	err     error
}

const flushDelay = time.Millisecond

func newBufferedConn(c net.Conn) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
		return n, err
	}
	if c.w.Buffered() >= 32<<10 {
		if err := c.w.Flush(); err != nil {
			c.err = err
			return n, err
		}
		return n, nil
	}
	if !c.pending {
		c.pending = true
		time.AfterFunc(flushDelay, c.flush)
	}
	return n, nil
}

func (c *bufferedConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = false
	if c.err == nil && c.w.Buffered() > 0 {
		if err := c.w.Flush(); err != nil {
			c.err = err
			_ = c.Conn.Close() // paho's reader then sees the failure and reconnects
		}
	}
}
