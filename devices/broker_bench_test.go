package devices

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// BenchmarkEmbeddedBrokerConnMemory: what one device connection costs the
// embedded broker in this process — goroutines, their stacks, heap — with
// BENCH_CONNS (default 1,000) raw TCP clients that hold no goroutine of
// their own here. Each logs in with a retained will, publishes its
// retained meta and status, then telemetry (QoS 1) in rounds. Reported
// per connection: stacks idle after a collection, stacks just after a
// round of messages (mochi's reader grows its stack for each message and
// only a collection shrinks it back), and the heap.
//
//	go test -run '^$' -bench EmbeddedBrokerConnMemory -benchtime 1x ./devices/
func BenchmarkEmbeddedBrokerConnMemory(b *testing.B) {
	n := benchEnv(b, "BENCH_CONNS", 1000)
	pool := seededDB(b)
	h := startTestHub(b, pool, Config{AllowAnonymous: true, SpoolDir: b.TempDir()})
	for range b.N {
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		conns := make([]net.Conn, n)
		id := uint16(0)
		send := func(c net.Conn, hdr byte, topic string, payload string) {
			var p bytes.Buffer
			mqttString(&p, topic)
			id++
			p.Write([]byte{byte(id >> 8), byte(id)})
			p.WriteString(payload)
			if _, err := c.Write(mqttPacket(hdr, p.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
		for i := range conns {
			c, err := net.Dial("tcp", h.broker)
			if err != nil {
				b.Fatal(err)
			}
			conns[i] = c
			dev := fmt.Sprintf("communehub/03244/mem-%d", i)
			var p bytes.Buffer
			mqttString(&p, "MQTT")
			p.Write([]byte{4, 0x2e, 0, 60}) // 3.1.1; clean; will QoS 1, retained; keepalive 60 s
			mqttString(&p, fmt.Sprintf("mem-%d", i))
			mqttString(&p, dev+"/status")
			mqttString(&p, "offline")
			if _, err := c.Write(mqttPacket(0x10, p.Bytes())); err != nil {
				b.Fatal(err)
			}
			send(c, 0x33, dev+"/meta", `{"name":"pc","kind":"pc","interval_s":10}`)
			send(c, 0x33, dev+"/status", "online")
		}
		hubtest.WaitFor(b, 60*time.Second, func() bool { return runtime.NumGoroutine()-g0 >= 2*n }, "every connection attached")
		perConn := func(v uint64, base uint64) float64 { return (float64(v) - float64(base)) / 1024 / float64(n) }
		var peakStack float64
		for round := 0; round < 3; round++ {
			for i, c := range conns {
				send(c, 0x32, fmt.Sprintf("communehub/03244/mem-%d/telemetry", i),
					fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":1.5,"cpu_pct":12}}`, time.Now().UnixMilli()))
			}
			want := float64(n * (round + 1))
			hubtest.WaitFor(b, 60*time.Second, func() bool { return counterValue(h.svc.m.messages.WithLabelValues("telemetry")) >= want }, "the round ingested")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakStack = max(peakStack, perConn(ms.StackInuse, before.StackInuse))
		}
		runtime.GC()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/float64(n), "goroutines/conn")
		b.ReportMetric(perConn(after.StackInuse, before.StackInuse), "stack-KiB/conn")
		b.ReportMetric(peakStack, "stack-after-msg-KiB/conn")
		b.ReportMetric(perConn(after.HeapInuse, before.HeapInuse), "heap-KiB/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}

// mqttString appends an MQTT length-prefixed string.
func mqttString(b *bytes.Buffer, s string) {
	b.WriteByte(byte(len(s) >> 8))
	b.WriteByte(byte(len(s)))
	b.WriteString(s)
}

// mqttPacket frames body behind the fixed header byte hdr.
func mqttPacket(hdr byte, body []byte) []byte {
	out := []byte{hdr}
	for n := len(body); ; {
		d := byte(n % 128)
		if n /= 128; n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}
