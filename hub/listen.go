package hub

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ListenOptions configures a guarded listener (Listen, Guard).
type ListenOptions struct {
	Name     string // the listener's label in metrics and logs: "http", "mqtt", …
	MaxConns int    // connections open at once; more are closed at accept. 0: no cap
	MaxPerIP int    // connections open at once from one client IP. 0: no cap
	Metrics  *ConnMetrics
	Logger   *slog.Logger
}

// ConnMetrics count what guarded listeners do, labelled by listener.
type ConnMetrics struct {
	Open         *prometheus.GaugeVec   // connections open now
	Refused      *prometheus.CounterVec // closed at accept, by reason: max_conns, max_per_ip
	AcceptErrors *prometheus.CounterVec // failed accepts (out of file descriptors, …), each retried
}

// NewConnMetrics creates the guarded listeners' metrics and registers them on reg.
func NewConnMetrics(reg prometheus.Registerer) *ConnMetrics {
	m := &ConnMetrics{
		Open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "communehub_listener_connections", Help: "Connections open on a guarded listener."}, []string{"listener"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_listener_refused_total", Help: "Connections closed at accept because a cap was reached, by reason (max_conns, max_per_ip)."}, []string{"listener", "reason"}),
		AcceptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_listener_accept_errors_total", Help: "Failed accepts (e.g. out of file descriptors), each retried after a pause."}, []string{"listener"}),
	}
	reg.MustRegister(m.Open, m.Refused, m.AcceptErrors)
	return m
}

// Listen listens on a TCP address and guards the listener (see Guard).
func Listen(addr string, o ListenOptions) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Guard(ln, o), nil
}

// Guard wraps ln so that serving from it survives resource exhaustion.
// Accept never returns an error other than net.ErrClosed: a failed accept
// (out of file descriptors: EMFILE, ENFILE; ECONNABORTED; …) is counted,
// logged and retried after a pause of 5 ms doubling to 1 s, as net/http
// does — fasthttp's Serve and mochi's listeners would otherwise return
// and stop accepting for good. A connection over MaxConns or MaxPerIP is
// closed at once and counted, and Accept goes on to the next.
func Guard(ln net.Listener, o ListenOptions) net.Listener {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = ln.Addr().Network()
	}
	return &guarded{Listener: ln, o: o, perIP: map[string]int{}, done: make(chan struct{})}
}

type guarded struct {
	net.Listener
	o ListenOptions

	mu       sync.Mutex
	open     int
	perIP    map[string]int
	lastWarn time.Time // refusals are logged at most once a minute
	// failed accepts since the last log, logged at most once a minute
	failed         int
	lastAcceptWarn time.Time

	done      chan struct{}
	closeOnce sync.Once
}

// Accept returns the next connection within the caps; see Guard.
func (l *guarded) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			select {
			case <-l.done:
				return nil, net.ErrClosed
			default:
			}
			if l.o.Metrics != nil {
				l.o.Metrics.AcceptErrors.WithLabelValues(l.o.Name).Inc()
			}
			l.failedAccept(err)
			pause = max(5*time.Millisecond, min(2*pause, time.Second))
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		pause = 0
		if gc := l.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// failedAccept logs a failed accept at most once a minute, with the count
// since the last log.
func (l *guarded) failedAccept(err error) {
	l.mu.Lock()
	l.failed++
	n := l.failed
	log := time.Since(l.lastAcceptWarn) > time.Minute
	if log {
		l.lastAcceptWarn, l.failed = time.Now(), 0
	}
	l.mu.Unlock()
	if log {
		l.o.Logger.Warn("accept failed; retrying (logged once a minute; see communehub_listener_accept_errors_total)",
			"listener", l.o.Name, "err", err, "failed_accepts", n)
	}
}

// admit counts c in, or closes it and returns nil when a cap is reached.
func (l *guarded) admit(c net.Conn) net.Conn {
	ip := ""
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip = a.IP.String()
	}
	l.mu.Lock()
	reason := ""
	switch {
	case l.o.MaxConns > 0 && l.open >= l.o.MaxConns:
		reason = "max_conns"
	case l.o.MaxPerIP > 0 && ip != "" && l.perIP[ip] >= l.o.MaxPerIP:
		reason = "max_per_ip"
	default:
		l.open++
		if ip != "" {
			l.perIP[ip]++
		}
	}
	warn := reason != "" && time.Since(l.lastWarn) > time.Minute
	if warn {
		l.lastWarn = time.Now()
	}
	l.mu.Unlock()
	if reason != "" {
		// Counted before the close, so whoever sees the connection end
		// (a client, a test, a scrape after it) also sees it counted.
		if l.o.Metrics != nil {
			l.o.Metrics.Refused.WithLabelValues(l.o.Name, reason).Inc()
		}
		_ = c.Close()
		if warn {
			l.o.Logger.Warn("connection refused: cap reached (logged once a minute; see communehub_listener_refused_total)",
				"listener", l.o.Name, "reason", reason, "ip", ip, "max_conns", l.o.MaxConns, "max_per_ip", l.o.MaxPerIP)
		}
		return nil
	}
	if l.o.Metrics != nil {
		l.o.Metrics.Open.WithLabelValues(l.o.Name).Inc()
	}
	return &guardedConn{Conn: c, l: l, ip: ip}
}

func (l *guarded) release(ip string) {
	l.mu.Lock()
	l.open--
	if ip != "" {
		if l.perIP[ip]--; l.perIP[ip] <= 0 {
			delete(l.perIP, ip)
		}
	}
	l.mu.Unlock()
	if l.o.Metrics != nil {
		l.o.Metrics.Open.WithLabelValues(l.o.Name).Dec()
	}
}

// Close stops Accept, also one pausing after a failure.
func (l *guarded) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// guardedConn gives its place back to the caps when closed, once.
type guardedConn struct {
	net.Conn
	l    *guarded
	ip   string
	once sync.Once
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
