package devices

import (
	"errors"
	"log/slog"
	"net"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Limits of what a connection may cost the embedded broker before it has
// logged in. mochi allocates a packet's whole remaining length as soon as
// it has read the fixed header, and sets no deadline until the CONNECT has
// been read: a client that announces a 256 MB CONNECT and trickles it in
// holds 256 MB for as long as it likes.
const (
	// maxConnectPacket is the largest CONNECT accepted (its remaining
	// length): client id, login and a last will are a few hundred bytes.
	maxConnectPacket = 16 << 10
	// DefaultMaxPacket is the default largest packet after login: a
	// Telegraf batch of a few hundred metrics fits.
	DefaultMaxPacket = 256 << 10
	// DefaultConnectTimeout is how long a new connection has to send its
	// whole CONNECT.
	DefaultConnectTimeout = 10 * time.Second
)

// connGuard wraps the broker's listener so that every connection must send
// a CONNECT of at most maxConnect bytes within timeout; a connection that
// does not is closed, counted (communehub_mqtt_refused_total{reason}) and
// logged at most once per reason every 10 s.
type connGuard struct {
	timeout    time.Duration
	maxConnect int
	m          *metrics
	log        *limitedLog
}

func newConnGuard(timeout time.Duration, maxPacket int, m *metrics, log *slog.Logger) *connGuard {
	return &connGuard{timeout: timeout, maxConnect: min(maxConnectPacket, maxPacket), m: m, log: newLimitedLog(log, 10*time.Second)}
}

// refuse counts and logs a connection the broker closes.
func (g *connGuard) refuse(reason, remote string, attrs ...any) {
	g.m.refused.WithLabelValues(reason).Inc()
	g.log.warn(reason, "mqtt connection refused", append([]any{"reason", reason, "remote", remote}, attrs...)...)
}

// guard puts the broker's listener id behind g (call it after AddListener,
// before Serve) and returns the address it listens on.
func (g *connGuard) guard(srv *mqtt.Server, id string) string {
	l, ok := srv.Listeners.Get(id)
	if !ok {
		return ""
	}
	srv.Listeners.Add(guardedListener{Listener: l, g: g})
	return l.Address()
}

// guardedListener is a broker listener whose connections go through the guard.
type guardedListener struct {
	listeners.Listener
	g *connGuard
}

func (l guardedListener) Serve(establish listeners.EstablishFn) {
	l.Listener.Serve(func(id string, c net.Conn) error {
		return establish(id, l.g.wrap(c))
	})
}

// errConnectRefused ends a connection whose CONNECT breaks the guard's limits.
var errConnectRefused = errors.New("mqtt: CONNECT over the size limit")

func (g *connGuard) wrap(c net.Conn) net.Conn {
	_ = c.SetReadDeadline(time.Now().Add(g.timeout))
	return &preAuthConn{Conn: c, g: g, sc: connectScanner{max: g.maxConnect}}
}

// preAuthConn watches the bytes of a connection until its first packet
// has been read whole. mochi's one reader goroutine per client calls Read;
// once the CONNECT is in, mochi sets the keepalive deadline itself
// (SetDeadline on this conn), which replaces the guard's.
type preAuthConn struct {
	net.Conn
	g  *connGuard
	sc connectScanner // touched by the reader goroutine only
}

func (c *preAuthConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.sc.done {
		return n, err
	}
	if c.sc.scan(p[:n]) == scanTooLarge {
		c.g.refuse("connect_too_large", c.RemoteAddr().String(), "bytes", c.sc.rem)
		return 0, errConnectRefused
	}
	var ne net.Error
	if err != nil && !c.sc.done && errors.As(err, &ne) && ne.Timeout() {
		c.g.refuse("connect_timeout", c.RemoteAddr().String(), "timeout", c.g.timeout.String())
	}
	return n, err
}

// connectScanner follows the first packet of a connection through its
// fixed header (type byte, remaining length as a varint of 1–4 bytes) and
// its body, however the bytes are split between reads.
type connectScanner struct {
	max   int
	state int // 0: type byte; 1: remaining length; 2: body
	rem   int // remaining length (so far)
	shift uint
	nlen  int // varint bytes seen
	left  int // body bytes still to come
	done  bool
}

type scanResult int

const (
	scanMore scanResult = iota
	scanDone
	scanTooLarge
)

// scan takes the next bytes of the stream. Anything that is not a
// well-formed CONNECT header is left to mochi, which refuses it.
func (s *connectScanner) scan(b []byte) scanResult {
	for i := 0; i < len(b) && !s.done; i++ {
		switch s.state {
		case 0:
			if b[i]>>4 != 1 { // not a CONNECT: mochi closes the connection
				s.done = true
				return scanDone
			}
			s.state = 1
		case 1:
			s.rem |= int(b[i]&0x7f) << s.shift
			s.shift += 7
			s.nlen++
			if b[i]&0x80 != 0 {
				if s.nlen == 4 { // malformed length: mochi refuses it
					s.done = true
					return scanDone
				}
				continue
			}
			if s.rem > s.max {
				s.done = true
				return scanTooLarge
			}
			s.state, s.left = 2, s.rem
			if s.left == 0 {
				s.done = true
			}
		case 2:
			take := min(s.left, len(b)-i)
			s.left -= take
			i += take - 1
			if s.left == 0 {
				s.done = true
			}
		}
	}
	if s.done {
		return scanDone
	}
	return scanMore
}
