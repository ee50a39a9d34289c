package devices

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the devices component's Prometheus metrics.
type metrics struct {
	messages   *prometheus.CounterVec // accepted, by kind
	rejected   *prometheus.CounterVec // communehub_ingest_rejected_total{reason}
	rows       prometheus.Counter
	flushes    prometheus.Histogram
	queued     prometheus.Gauge
	backpress  prometheus.Counter
	deferred   prometheus.Counter
	lost       *prometheus.CounterVec
	connected  prometheus.Gauge
	brokerDrop prometheus.Gauge
	refused    *prometheus.CounterVec // communehub_mqtt_refused_total{reason}
	linkLost   *prometheus.CounterVec // communehub_mqtt_connection_lost_total{kind}

	spoolBytes    prometheus.Gauge   // communehub_spool_bytes
	spoolFull     prometheus.Counter // communehub_spool_full_total
	spoolCorrupt  prometheus.Counter // communehub_spool_corrupt_total
	spoolReplayed prometheus.Counter // communehub_spool_replayed_total
	spoolFlush    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_ingest_messages_total", Help: "MQTT messages accepted, by kind."}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_ingest_rejected_total", Help: "MQTT messages rejected, by reason."}, []string{"reason"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_telemetry_rows_stored_total", Help: "Telemetry rows written to PostgreSQL."}),
		flushes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "communehub_telemetry_flush_seconds", Help: "Time to write one telemetry batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12)}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "communehub_ingest_queue_rows", Help: "Telemetry rows waiting for the writer."}),
		backpress: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_ingest_backpressure_total", Help: "Times a publisher was held because the ingest queue was full."}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_ingest_deferred_total", Help: "Messages left unacknowledged for the broker to redeliver because the queue was full."}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_ingest_lost_total", Help: "Messages the hub accepted but could not store, by reason."}, []string{"reason"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "communehub_mqtt_connected", Help: "1 while the hub is connected to its broker (or runs the embedded one)."}),
		brokerDrop: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "communehub_mqtt_broker_dropped", Help: "Messages the broker reports dropped ($SYS) since the hub started."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_mqtt_refused_total", Help: "Connections the embedded broker refused or closed, by reason."}, []string{"reason"}),
		linkLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_mqtt_connection_lost_total", Help: "Times the hub lost its connection to an external broker; kind short: within 15 s of connecting (a takeover loop when it repeats)."}, []string{"kind"}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "communehub_spool_bytes", Help: "Bytes in the embedded broker's spool of acknowledged telemetry not yet known committed."}),
		spoolFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_spool_full_total", Help: "Times a publisher was held (no PUBACK) because the spool was full, or its disk behind or failing."}),
		spoolCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_spool_corrupt_total", Help: "Torn or corrupt spool records skipped (with the rest of their segment) when reading back."}),
		spoolReplayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_spool_replayed_total", Help: "Spool records read back from disk: spilled while the queue was full, or left by the previous run."}),
		spoolFlush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "communehub_spool_flush_seconds", Help: "Time to write and fsync one group of spool records (their PUBACKs wait for it).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.rejected, m.rows, m.flushes, m.queued, m.backpress, m.deferred, m.lost, m.connected, m.brokerDrop, m.refused, m.linkLost,
			m.spoolBytes, m.spoolFull, m.spoolCorrupt, m.spoolReplayed, m.spoolFlush)
	}
	return m
}

// rejectLog logs rejected messages at most once per reason per interval,
// with how many were suppressed, so garbage cannot flood the log.
type rejectLog struct{ *limitedLog }

func newRejectLog(log *slog.Logger) *rejectLog { return &rejectLog{newLimitedLog(log, 10*time.Second)} }

func (r *rejectLog) log1(reason, topic string, size int) {
	r.warn(reason, "mqtt message rejected", "reason", reason, "topic", clip(topic, 120), "bytes", size)
}

// limitedLog logs a message at most once per key per interval, with the
// number suppressed since the last one, so that a flood cannot fill the log.
type limitedLog struct {
	log   *slog.Logger
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	skip map[string]int
}

func newLimitedLog(log *slog.Logger, every time.Duration) *limitedLog {
	return &limitedLog{log: log, every: every, last: map[string]time.Time{}, skip: map[string]int{}}
}

func (l *limitedLog) allow(key string) (bool, int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last[key]) < l.every {
		l.skip[key]++
		return false, 0
	}
	n := l.skip[key]
	l.last[key], l.skip[key] = now, 0
	return true, n
}

func (l *limitedLog) warn(key, msg string, attrs ...any) {
	if ok, n := l.allow(key); ok {
		l.log.Warn(msg, append(attrs, "suppressed_since_last", n)...)
	}
}
