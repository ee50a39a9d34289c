package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/communehub/communehub/hub/hubtest"
)

// slowClient sends a request's first line and then one header line every
// interval, never the end of the header (slowloris). It returns when the
// server closes the connection, or at stop, and reports how long it lived.
func slowClient(addr string, interval time.Duration, stop <-chan struct{}) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, c); close(closed) }() // EOF: the server closed it
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n"); err != nil {
		return time.Since(start), nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start), nil
		case <-stop:
			return time.Since(start), errors.New("still connected")
		case <-t.C:
			if _, err := fmt.Fprintf(c, "X-Slow-%d: x\r\n", i); err != nil {
				<-closed
				return time.Since(start), nil
			}
		}
	}
}

// Slow-header clients are cut after the header timeout; the hub meanwhile
// answers others.
//
// Not parallel, like the flood below: these tests load the machine on
// purpose (hundreds of connections) and would slow the timing-bound tests
// beside them; serial tests run before the parallel ones start.
func TestBinarySlowHeaderClientsAreCut(t *testing.T) {
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	h := startBinary(t, dbURL, []string{"COMMUNEHUB_HTTP_HEADER_TIMEOUT=1s"})
	h.WaitHTTP(t, 60*time.Second, h.Base+"/readyz", 200)

	const clients = 100
	stop := make(chan struct{})
	lived := make([]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); lived[i], errs[i] = slowClient(h.Addr, 300*time.Millisecond, stop) }()
	}
	if code, _ := httpGet(t, h.Base+"/healthz"); code != 200 {
		t.Errorf("healthz during the slow clients = %d", code)
	}
	timer := time.AfterFunc(hubtest.Timeout(10*time.Second), func() { close(stop) })
	wg.Wait()
	timer.Stop()
	var longest time.Duration
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("slow client %d: %v after %v (header timeout 1s)", i, errs[i], lived[i].Round(time.Millisecond))
		}
		longest = max(longest, lived[i])
	}
	t.Logf("%d slow-header clients (a header line every 300ms) cut after at most %v (header timeout 1s)", clients, longest.Round(10*time.Millisecond))
}

// mqttConnack sends an MQTT 3.1.1 CONNECT and reports whether a CONNACK
// came back within d (refused or not: the broker is accepting).
func mqttConnack(addr string, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	connect := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'x'}
	if _, err := c.Write(connect); err != nil {
		return err
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil {
		return fmt.Errorf("no CONNACK: %w", err)
	}
	if b[0] != 0x20 {
		return fmt.Errorf("first packet %#x, want CONNACK", b[0])
	}
	return nil
}

// More half-sent connections than the hub has file descriptors: accepts
// fail (EMFILE) on the HTTP and MQTT ports, the hub stays up, and once the
// flood ends /healthz answers and the broker accepts again.
func TestBinaryConnectionFloodOverTheFileLimit(t *testing.T) {
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	// No caps, so that the descriptors, not the caps, run out.
	h := startBinary(t, dbURL, []string{"COMMUNEHUB_HTTP_MAX_CONNS=0", "COMMUNEHUB_HTTP_MAX_CONNS_PER_IP=0"},
		"sh", "-c", `ulimit -S -n 256 && ulimit -H -n 512 && exec "$0" "$@"`)
	h.WaitHTTP(t, 60*time.Second, h.Base+"/readyz", 200)
	if err := mqttConnack(h.MQTTAddr, hubtest.Timeout(5*time.Second)); err != nil {
		t.Fatalf("MQTT before the flood: %v", err)
	}

	const flood = 800
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < flood; i++ {
		addr := h.Addr
		if i%20 == 19 { // some on the broker's port too
			addr = h.MQTTAddr
		}
		c, err := net.DialTimeout("tcp", addr, hubtest.Timeout(5*time.Second))
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n") // half a request
		conns = append(conns, c)
	}
	hubtest.WaitFor(t, 20*time.Second, func() bool {
		return h.Exited() || strings.Contains(h.Stderr(), "accept failed; retrying")
	}, "the hub to run out of descriptors")
	if h.Exited() {
		t.Fatalf("the hub exited under %d half-sent connections:\n%s", flood, tail(h.Stderr(), 2000))
	}
	for _, l := range []string{`"listener":"http"`, `"listener":"mqtt"`} {
		hubtest.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(h.Stderr(), l) || h.Exited() }, "accept failure on "+l)
		if !strings.Contains(h.Stderr(), l) {
			t.Errorf("no accept failure logged for %s: the flood did not reach it", l)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	ended := time.Now()
	h.WaitHTTP(t, 20*time.Second, h.Base+"/healthz", 200)
	healthy := time.Since(ended)
	var mqttErr error
	hubtest.WaitFor(t, 20*time.Second, func() bool {
		mqttErr = mqttConnack(h.MQTTAddr, hubtest.Timeout(2*time.Second))
		return mqttErr == nil
	}, "the MQTT broker to accept after the flood")
	if h.Exited() {
		t.Fatal("the hub exited after the flood")
	}
	for _, line := range strings.Split(h.Stderr(), "\n") {
		if strings.Contains(line, "open-files limit") || strings.Contains(line, "accept") {
			t.Log(line)
		}
	}
	t.Logf("%d half-sent connections over a 512 file limit: hub alive, /healthz 200 %v after they closed, MQTT CONNACK %v after",
		flood, healthy.Round(time.Millisecond), time.Since(ended).Round(time.Millisecond))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// A wall's websocket is not cut by the HTTP timeouts: it stays open through
// a silence several times longer than all of them (its own limit, 37.5 s
// without a ping, is far off).
func TestBinaryWallSocketOutlivesHTTPTimeouts(t *testing.T) {
	t.Parallel()
	_, dbURL := hubtest.NewDB(t, migrationSets()...)
	h := startBinary(t, dbURL, []string{"COMMUNEHUB_HTTP_HEADER_TIMEOUT=1s", "COMMUNEHUB_HTTP_READ_TIMEOUT=1s",
		"COMMUNEHUB_HTTP_WRITE_TIMEOUT=1s", "COMMUNEHUB_HTTP_IDLE_TIMEOUT=1s"})
	h.WaitHTTP(t, 60*time.Second, h.Base+"/readyz", 200)
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: hubtest.Timeout(5 * time.Second)}).Dial("ws://"+h.Addr+"/ws/display", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "hello", "pair": "front-test-tv-secret-0123456789"}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(hubtest.Timeout(10 * time.Second)))
	if _, msg, err := ws.ReadMessage(); err != nil {
		t.Fatalf("no answer to hello: %v", err)
	} else {
		t.Logf("hello answered: %.80s", msg)
	}
	// Silent for three times the longest HTTP limit (the silence is what
	// is tested, not a wait for something).
	time.Sleep(3 * time.Second) // sleep: the silence is the scenario
	if err := ws.WriteJSON(map[string]any{"type": "ping"}); err != nil {
		t.Fatalf("write after 3 s of silence: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(hubtest.Timeout(time.Second)))
	for {
		_, _, err := ws.ReadMessage()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return // nothing more to read, still open
		}
		if err != nil {
			t.Fatalf("wall socket cut after 3 s of silence under 1 s HTTP timeouts: %v", err)
		}
	}
}
