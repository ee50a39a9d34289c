package devices

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// leanPublisher is the benchmarks' load generator: a minimal MQTT 3.1.1
// QoS 1 publisher on a raw socket (buffered writes, a window of
// unacknowledged packets, a reader counting PUBACKs), so that generating
// 20,000 msg/s costs the 2-core machine far less than 20 paho clients,
// leaving the CPU to what is measured: the broker, the hub and PostgreSQL.
// Real devices publish from their own hardware.
type leanPublisher struct {
	conn   net.Conn
	w      *bufio.Writer
	window chan struct{} // one token per packet in flight
	acked  atomic.Int64
	done   chan error
}

func appendRemLen(b []byte, n int) []byte {
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func appendMQTTString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func dialLeanPublisher(broker, clientID string, window int) (*leanPublisher, error) {
	c, err := net.DialTimeout("tcp", broker, hubtest.Timeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	vh := appendMQTTString(nil, "MQTT")
	vh = append(vh, 4, 0x02, 0, 60) // level 4, clean session, keep-alive 60 s
	vh = appendMQTTString(vh, clientID)
	pkt := appendRemLen([]byte{0x10}, len(vh))
	if _, err := c.Write(append(pkt, vh...)); err != nil {
		c.Close()
		return nil, err
	}
	ack := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("connack %x: %v", ack, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	p := &leanPublisher{conn: c, w: bufio.NewWriterSize(c, leanBuf), window: make(chan struct{}, window), done: make(chan error, 1)}
	go p.readAcks()
	return p, nil
}

func (p *leanPublisher) readAcks() {
	r := bufio.NewReaderSize(p.conn, leanBuf)
	buf := make([]byte, 4)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			p.done <- err
			return
		}
		if buf[0] != 0x40 || buf[1] != 2 {
			p.done <- fmt.Errorf("unexpected packet %x", buf)
			return
		}
		p.acked.Add(1)
		<-p.window
	}
}

// publish queues one QoS 1 message; it waits while the window is full.
// Call flush to send what is buffered.
func (p *leanPublisher) publish(ctx context.Context, id uint16, topic string, payload []byte) error {
	select {
	case p.window <- struct{}{}:
	default:
		if err := p.w.Flush(); err != nil {
			return err
		}
		select {
		case p.window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	hdr := appendRemLen([]byte{0x32}, 2+len(topic)+2+len(payload))
	hdr = appendMQTTString(hdr, topic)
	hdr = binary.BigEndian.AppendUint16(hdr, id)
	p.w.Write(hdr)
	_, err := p.w.Write(payload)
	return err
}

func (p *leanPublisher) flush() error { return p.w.Flush() }

// drain waits until every message sent is acknowledged, then disconnects.
func (p *leanPublisher) drain(timeout time.Duration) error {
	if err := p.w.Flush(); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for len(p.window) > 0 {
		if time.Now().After(deadline) {
			return errors.New("unacknowledged messages left")
		}
		time.Sleep(5 * time.Millisecond) // sleep: the polling interval
	}
	p.conn.Write([]byte{0xe0, 0})
	return p.conn.Close()
}

// leanBuf is the load generator's buffer size per connection and direction.
var leanBuf = 64 << 10
