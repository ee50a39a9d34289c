package hub_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

// serveGuarded accepts from a guarded listener and keeps what it accepts
// open until the test ends.
func serveGuarded(t *testing.T, o hub.ListenOptions) (addr string, m *hub.ConnMetrics) {
	t.Helper()
	m = hub.NewConnMetrics(prometheus.NewRegistry())
	o.Metrics = m
	ln, err := hub.Listen("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), m
}

// dialFrom connects from the loopback address src (any 127.x.y.z works on
// Linux) and reports whether the server kept the connection: a refused one
// is closed at accept, so a read sees EOF. want says which is expected: a
// refusal is waited for (the server may be slow on a busy machine); a kept
// connection is one still open after a short read.
func dialFrom(t *testing.T, src, addr string, want bool) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: hubtest.Timeout(5 * time.Second)}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	wait := 300 * time.Millisecond // deadline: a quiet window: an admitted connection stays open this long
	if !want {
		wait = hubtest.Timeout(5 * time.Second)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	return c, errors.As(err, &ne) && ne.Timeout() // still open: nothing to read
}

func TestGuardedListenerCapsPerIP(t *testing.T) {
	t.Parallel()
	addr, m := serveGuarded(t, hub.ListenOptions{Name: "t", MaxPerIP: 2})
	var first []net.Conn
	for i := range 2 {
		c, kept := dialFrom(t, "127.0.0.1", addr, true)
		if !kept {
			t.Fatalf("connection %d from 127.0.0.1 closed under the per-IP cap of 2", i+1)
		}
		first = append(first, c)
	}
	if _, kept := dialFrom(t, "127.0.0.1", addr, false); kept {
		t.Fatal("third connection from 127.0.0.1 kept over the per-IP cap of 2")
	}
	if _, kept := dialFrom(t, "127.0.0.2", addr, true); !kept {
		t.Fatal("a connection from another IP was refused by the first IP's cap")
	}
	if n := value(m.Refused.WithLabelValues("t", "max_per_ip")); n != 1 {
		t.Errorf("refused{max_per_ip} = %v, want 1", n)
	}
	_ = first // kept open to the end
}

// value reads a counter's or gauge's current value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	_ = m.Write(&d)
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func TestGuardedListenerCapsTotalAndFreesOnClose(t *testing.T) {
	t.Parallel()
	m := hub.NewConnMetrics(prometheus.NewRegistry())
	ln, err := hub.Listen("127.0.0.1:0", hub.ListenOptions{Name: "t", MaxConns: 2, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := ln.Addr().String()
	a, _ := dialFrom(t, "127.0.0.1", addr, true)
	_, _ = dialFrom(t, "127.0.0.2", addr, true)
	sa, sb := <-accepted, <-accepted
	defer sb.Close()
	if _, kept := dialFrom(t, "127.0.0.3", addr, false); kept {
		t.Fatal("third connection kept over the total cap of 2")
	}
	if n := value(m.Refused.WithLabelValues("t", "max_conns")); n != 1 {
		t.Errorf("refused{max_conns} = %v, want 1", n)
	}
	if n := value(m.Open.WithLabelValues("t")); n != 2 {
		t.Errorf("open = %v, want 2", n)
	}
	a.Close()
	sa.Close()
	sa.Close() // a second Close must not free a second place
	if _, kept := dialFrom(t, "127.0.0.4", addr, true); !kept {
		t.Fatal("a place freed by Close was not given to the next connection")
	}
	sc := <-accepted
	defer sc.Close()
	if _, kept := dialFrom(t, "127.0.0.5", addr, false); kept {
		t.Fatal("a double Close freed two places")
	}
}

// flakyListener fails its first n accepts with EMFILE.
type flakyListener struct {
	net.Listener
	mu   sync.Mutex
	n    int
	seen []time.Time
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	f.seen = append(f.seen, time.Now())
	if f.n > 0 {
		f.n--
		f.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

// Out of file descriptors, Accept pauses (5 ms doubling) and tries again
// instead of returning the error that ends fasthttp's and mochi's loops.
func TestGuardedListenerRetriesFailedAccepts(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: raw, n: 5}
	m := hub.NewConnMetrics(prometheus.NewRegistry())
	ln := hub.Guard(fl, hub.ListenOptions{Name: "t", Metrics: m})
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	start := time.Now()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept returned %v; want the connection after the failures", err)
	}
	c.Close()
	if n := value(m.AcceptErrors.WithLabelValues("t")); n != 5 {
		t.Errorf("accept errors = %v, want 5", n)
	}
	// 5+10+20+40+80 ms of pauses.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("5 failed accepts retried within %v: no backoff", d)
	}
}

// Close ends an Accept that is pausing after a failure.
func TestGuardedListenerCloseDuringPause(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: raw, n: 1 << 30}
	ln := hub.Guard(fl, hub.ListenOptions{})
	res := make(chan error, 1)
	go func() { _, err := ln.Accept(); res <- err }()
	hubtest.WaitFor(t, 3*time.Second, func() bool {
		fl.mu.Lock()
		defer fl.mu.Unlock()
		return len(fl.seen) >= 3
	}, "three failed accepts")
	ln.Close()
	select {
	case err := <-res:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(hubtest.Timeout(3 * time.Second)):
		t.Fatal("Accept did not return after Close")
	}
}
