package devices

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkIngestHandle is the hub's CPU per telemetry message before the
// database: topic and payload parsing, the state update and queueing, plus
// encoding the row the writer would copy.
func BenchmarkIngestHandle(b *testing.B) {
	m := newMetrics(prometheus.NewRegistry())
	st := newState(StateConfig{}, nil, time.Now())
	w := newWriter(nil, slog.New(slog.DiscardHandler), m, st, 1<<30)
	in := &ingest{st: st, w: w, m: m, rl: newRejectLog(slog.New(slog.DiscardHandler)), telegraf: "telegraf", now: time.Now}
	topics := make([]string, 200)
	for i := range topics {
		topics[i] = fmt.Sprintf("communehub/03244/dev-%03d/telemetry", i)
	}
	payload := []byte(fmt.Sprintf(`{"ts":%d,"metrics":{"latency_ms":3.25,"loss_pct":0,"cpu_pct":12}}`, time.Now().UnixMilli()))
	ctx := context.Background()
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in.handle(ctx, topics[i%len(topics)], payload, nil, true)
		if i%1000 == 999 {
			for _, it := range w.take() {
				for _, s := range it.samples {
					buf = appendMetricsJSON(buf[:0], s.metrics)
				}
			}
		}
	}
}
