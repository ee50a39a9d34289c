package hubtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// fakeTB records Fatal and Skip; run calls the code under test in a
// goroutine of its own, as they end it with runtime.Goexit.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func run(fn func(testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestSkipOrFatalFollowsCI(t *testing.T) {
	t.Setenv("CI", "")
	if f := run(func(tb testing.TB) { skipOrFatal(tb, "needs X") }); !f.skipped || f.failed || f.msg != "needs X" {
		t.Errorf("without CI: %+v", f)
	}
	t.Setenv("CI", "true")
	if f := run(func(tb testing.TB) { skipOrFatal(tb, "needs X") }); !f.failed || f.skipped || !strings.Contains(f.msg, "needs X") {
		t.Errorf("with CI=true: %+v", f)
	}
}

func TestWaitFor(t *testing.T) {
	start := time.Now()
	calls := 0
	WaitFor(t, time.Second, func() bool { calls++; return calls == 5 }, "fifth call")
	if calls != 5 || time.Since(start) > Timeout(500*time.Millisecond) {
		t.Errorf("%d calls in %v", calls, time.Since(start))
	}
	f := run(func(tb testing.TB) { WaitFor(tb, 50*time.Millisecond, func() bool { return false }, "never") })
	if !f.failed || !strings.Contains(f.msg, "waiting for never") {
		t.Errorf("timeout: %+v", f)
	}
}

// A free port is bindable, and below the ephemeral range, where no
// outgoing connection can take it before the caller binds it.
func TestFreePort(t *testing.T) {
	p := FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("FreePort gave %d, not free: %v", p, err)
	}
	ln.Close()
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var low, high int
		if _, err := fmt.Sscan(string(b), &low, &high); err == nil && p >= low {
			t.Fatalf("FreePort gave %d, inside the ephemeral range %d–%d", p, low, high)
		}
	}
}

// TestEmbeddedServer runs this test binary twice at once, each with the
// embedded server forced, as parallel `go test ./...` packages would: each
// must get a server of its own, and Main must stop it when the binary ends.
func TestEmbeddedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "COMMUNEHUB_TEST_DATABASE_URL=", "COMMUNEHUB_TEST_EMBEDDED=1", "HUBTEST_CHILD=1")
			out, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(out), err
		})
	}
	wg.Wait()
	var urls []string
	for i, out := range outs {
		if strings.Contains(out, "--- SKIP") {
			skipOrFatal(t, "child skipped:\n"+out)
		}
		if errs[i] != nil {
			t.Fatalf("child %d: %v\n%s", i, errs[i], out)
		}
		_, rest, ok := strings.Cut(out, "EMBEDDED_URL=")
		if !ok {
			t.Fatalf("child %d printed no URL:\n%s", i, out)
		}
		urls = append(urls, strings.Fields(rest)[0])
	}
	a, err1 := url.Parse(urls[0])
	b, err2 := url.Parse(urls[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("bad URLs %q: %v %v", urls, err1, err2)
	}
	if a.Host == b.Host {
		t.Fatalf("both children used %s", a.Host)
	}
	// Connecting, not dialling: another test binary may already listen on
	// the freed port, but not with the child's server's random password.
	for _, u := range urls {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout(5*time.Second))
		if conn, err := pgx.Connect(ctx, u); err == nil {
			conn.Close(ctx)
			t.Errorf("the server at %s still runs after its binary ended", hub.RedactURL(u))
		}
		cancel()
	}
}

// TestEmbeddedChild is TestEmbeddedServer's child process.
func TestEmbeddedChild(t *testing.T) {
	if os.Getenv("HUBTEST_CHILD") != "1" {
		t.Skip("run by TestEmbeddedServer in a child process")
	}
	pool, _ := NewDB(t, thingsSet(""))
	if _, err := pool.Exec(context.Background(), `INSERT INTO things VALUES (1, 'x')`); err != nil {
		t.Fatal(err)
	}
	u := Postgres(t)
	if server.embedded == nil || u == localURL {
		t.Fatalf("not the embedded server: %s", u)
	}
	fmt.Printf("EMBEDDED_URL=%s\n", u)
}

// mqttConnect sends an MQTT 3.1.1 CONNECT and returns CONNACK's return code.
func mqttConnect(t *testing.T, addr string) byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(Timeout(5 * time.Second)))
	id := "hubtest-" + randomHex(4)
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, byte(len(id))}, id...)
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		t.Fatalf("not a CONNACK: % x", ack)
	}
	return ack[3]
}

func TestMosquitto(t *testing.T) {
	if rc := mqttConnect(t, Mosquitto(t)); rc != 0 {
		t.Fatalf("CONNACK return code %d", rc)
	}
}

func TestStartMosquitto(t *testing.T) {
	open := StartMosquitto(t, "")
	if rc := mqttConnect(t, open); rc != 0 {
		t.Fatalf("anonymous client refused by the default configuration: return code %d", rc)
	}
	closed := StartMosquitto(t, "allow_anonymous false")
	if closed == open {
		t.Fatalf("two brokers on %s", open)
	}
	if rc := mqttConnect(t, closed); rc != 5 {
		t.Fatalf("with allow_anonymous false: return code %d, want 5 (not authorised)", rc)
	}
}

func TestStartMosquittoStopsWithTest(t *testing.T) {
	var addr string
	t.Run("user", func(t *testing.T) { addr = StartMosquitto(t, "") })
	if addr != "" && answers(addr) {
		t.Fatalf("broker at %s still answers after its test", addr)
	}
}

func TestMosquittoConf(t *testing.T) {
	got := mosquittoConf(1234, "password_file /x\nper_listener_settings true\nallow_anonymous false")
	if !strings.HasPrefix(got, "per_listener_settings true\nlistener 1234 127.0.0.1\n") {
		t.Errorf("per_listener_settings not first:\n%s", got)
	}
	if strings.Contains(got, "allow_anonymous true") {
		t.Errorf("default allow_anonymous overrides the caller's:\n%s", got)
	}
}

func TestChromium(t *testing.T) {
	path := Chromium(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), ChromeAllocatorOptions(t, path)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, Timeout(30*time.Second))
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	sum, err := chromedp.Run(ctx, chromedp.Evaluate[int](`2 + 2`))
	if err != nil {
		t.Fatal(err)
	}
	if sum != 4 {
		t.Fatalf("2 + 2 = %d in Chromium", sum)
	}
}

func TestStacksPicksTheGoroutinesNamed(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	go parkForStacks(block)
	WaitFor(t, 5*time.Second, func() bool { return strings.Contains(Stacks("parkForStacks"), "hubtest.parkForStacks") }, "the goroutine to park")
	got := Stacks("parkForStacks")
	if !strings.Contains(got, "hubtest.parkForStacks") || strings.Contains(got, "hubtest.Stacks(") {
		t.Fatalf("Stacks(parkForStacks):\n%s", got)
	}
}

func parkForStacks(c chan struct{}) { <-c }
