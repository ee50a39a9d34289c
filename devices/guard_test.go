package devices

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// metricValue reads one sample of a Prometheus text exposition, e.g.
// `communehub_mqtt_refused_total{reason="connect_timeout"}`; 0 when absent.
func metricValue(t testing.TB, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`)
	m := re.FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// A client that announces a huge CONNECT before logging in, or trickles a
// CONNECT in, or sends nothing, is closed within the connect timeout and
// costs the hub almost no memory; each is counted on /metrics by reason,
// and the broker keeps serving devices. Against the real binary.
func TestPreAuthConnectionsAreBoundedInTimeAndMemory(t *testing.T) {
	t.Parallel()
	bin := hubtest.Build(t, "./cmd/communehub")
	pool, dbURL := hubtest.NewDB(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
	mqttAddr := fmt.Sprintf("127.0.0.1:%d", hubtest.FreePort(t))
	const connectTimeout = 2 * time.Second
	p := hubtest.Start(t, bin, []string{
		"COMMUNEHUB_ADDR=" + httpAddr, "COMMUNEHUB_DATABASE_URL=" + dbURL, "COMMUNEHUB_MQTT_LISTEN=" + mqttAddr,
		"COMMUNEHUB_DATA_DIR=" + t.TempDir(), "COMMUNEHUB_LOG_FORMAT=json",
		"COMMUNEHUB_MQTT_CONNECT_TIMEOUT=" + connectTimeout.String(),
	})
	p.WaitHTTP(t, 60*time.Second, "http://"+httpAddr+"/readyz", 200)
	pid := p.Cmd.Process.Pid
	before := procKB(pid, "VmRSS")

	// CONNECT (0x10) announcing 256 MiB - 1, the largest remaining length
	// MQTT can encode; then CONNECT bodies trickled in, 16 KiB every 10 ms.
	huge := []byte{0x10, 0xff, 0xff, 0xff, 0x7f}
	type result struct {
		kind   string
		closed time.Duration // -1: still open at the end
		sent   int
	}
	results := make(chan result, 8)
	var wg sync.WaitGroup
	deadline := time.Now().Add(hubtest.Timeout(connectTimeout + 5*time.Second))
	open := func(kind string, header []byte, chunk int, every time.Duration) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", mqttAddr)
			if err != nil {
				results <- result{kind: kind, closed: -1}
				return
			}
			defer c.Close()
			start := time.Now()
			closed := make(chan time.Duration, 1)
			go func() { // the server closing the connection ends this read
				_, _ = io.Copy(io.Discard, c)
				closed <- time.Since(start)
			}()
			sent := 0
			if len(header) > 0 {
				n, _ := c.Write(header)
				sent += n
			}
			pad := bytes.Repeat([]byte{'x'}, chunk)
			tick := time.NewTicker(every)
			defer tick.Stop()
			for time.Now().Before(deadline) {
				select {
				case d := <-closed:
					results <- result{kind: kind, closed: d, sent: sent}
					return
				case <-tick.C:
				}
				if chunk > 0 {
					_ = c.SetWriteDeadline(time.Now().Add(hubtest.Timeout(time.Second)))
					n, _ := c.Write(pad)
					sent += n
				}
			}
			results <- result{kind: kind, closed: -1, sent: sent}
		}()
	}
	for range 4 {
		open("huge", huge, 16<<10, 10*time.Millisecond)
	}
	open("slow", []byte{0x10, 100}, 1, 500*time.Millisecond) // a small CONNECT, a byte at a time
	open("idle", nil, 0, 100*time.Millisecond)               // connects and says nothing

	peak := before
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if kb := procKB(pid, "VmRSS"); kb > peak {
				peak = kb
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(50 * time.Millisecond): // deadline: the RSS sampling interval
			}
		}
	}()
	wg.Wait()
	close(stopWatch)
	<-watched
	close(results)
	for r := range results {
		limit := hubtest.Timeout(connectTimeout + time.Second)
		if r.kind == "huge" {
			limit = hubtest.Timeout(time.Second) // refused on its header
		}
		if r.closed < 0 || r.closed > limit {
			t.Errorf("%s connection: closed after %v (limit %v; -1: never), %d bytes sent", r.kind, r.closed, limit, r.sent)
		}
		t.Logf("%s connection closed after %v, %d bytes sent", r.kind, r.closed.Round(time.Millisecond), r.sent)
	}
	grew := (peak - before) / 1024
	t.Logf("hub RSS %d MiB before, peak %d MiB during the 6 connections (+%d MiB)", before/1024, peak/1024, grew)
	if grew > 32 {
		t.Errorf("hub RSS grew by %d MiB for 6 unauthenticated connections", grew)
	}

	metrics := "http://" + httpAddr + "/metrics"
	hubtest.WaitFor(t, 5*time.Second, func() bool {
		return metricValue(t, metrics, `communehub_mqtt_refused_total{reason="connect_too_large"}`) == 4 &&
			metricValue(t, metrics, `communehub_mqtt_refused_total{reason="connect_timeout"}`) == 2
	}, "refusals counted by reason on /metrics")
	if !strings.Contains(p.Stderr(), `"reason":"connect_too_large"`) || !strings.Contains(p.Stderr(), `"reason":"connect_timeout"`) {
		t.Errorf("refusals not logged:\n%s", p.Stderr())
	}

	// The broker still serves a device.
	dev, secret, err := CreateCredential(context.Background(), pool, "03244", "router-1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := mqttClient(t, mqttAddr, dev.Username, secret)
	if err != nil {
		t.Fatalf("a device cannot connect after the attack: %v", err)
	}
	if err := publish(t, c, "communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":1}}`); err != nil {
		t.Fatal(err)
	}
}

// The CONNECT scanner decides the same however the stream is split, and
// refuses exactly the CONNECTs whose remaining length is over the limit.
func FuzzConnectScanner(f *testing.F) {
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0x7f}, uint8(1))
	f.Add([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}, uint8(3))
	f.Add([]byte{0x10, 0x80, 0x80, 0x01}, uint8(2))             // 16384: at the limit
	f.Add([]byte{0x10, 0x81, 0x80, 0x01}, uint8(1))             // 16385: over
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}, uint8(1))       // not a CONNECT: mochi's to refuse
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(4)) // malformed length
	f.Add([]byte{0x10, 0x00}, uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, split uint8) {
		whole := connectScanner{max: maxConnectPacket}
		want := whole.scan(stream)
		parts := connectScanner{max: maxConnectPacket}
		got := scanMore
		step := int(split%7) + 1
		for i := 0; i < len(stream) && got == scanMore; i += step {
			got = parts.scan(stream[i:min(i+step, len(stream))])
		}
		if got != want {
			t.Fatalf("split by %d: %v, whole: %v", step, got, want)
		}
		// Reference decoding of the remaining length.
		if len(stream) >= 2 && stream[0]>>4 == 1 {
			rem, mul := 0, 1
			for i := 1; i < len(stream) && i <= 4; i++ {
				rem += int(stream[i]&0x7f) * mul
				mul *= 128
				if stream[i]&0x80 == 0 {
					if (rem > maxConnectPacket) != (want == scanTooLarge) {
						t.Fatalf("remaining %d: %v", rem, want)
					}
					if rem <= maxConnectPacket && len(stream) >= 1+i+rem && want != scanDone {
						t.Fatalf("a whole CONNECT of %d bytes not done: %v", rem, want)
					}
					break
				}
			}
		}
	})
}
