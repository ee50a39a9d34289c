package displays

import (
	"github.com/communehub/communehub/hub"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	opened      prometheus.Counter
	closes      *prometheus.CounterVec
	slow        *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	sent        prometheus.Counter
	coalesced   prometheus.Counter
	snapshots   prometheus.Counter
	resumes     prometheus.Counter
	resyncs     prometheus.Counter
	wentOffline prometheus.Counter
	delivery    prometheus.Histogram
}

// newMetrics creates the displays metrics and registers them on hm's
// registry when there is one.
func newMetrics(hm *hub.Metrics, conns func() float64) *metrics {
	m := &metrics{
		opened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_display_sockets_opened_total", Help: "Display sockets that passed hello."}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_display_closes_total", Help: "Display sockets closed by the hub, by close code (heartbeat: two missed)."}, []string{"code"}),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_display_slow_disconnects_total", Help: "Display sockets cut off for not keeping up (queue_overflow, write_timeout)."}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_display_rejected_total", Help: "Refused display input (bad_token, malformed, too_big, origin, pairing_rate)."}, []string{"reason"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_display_messages_sent_total", Help: "Messages written to display sockets."}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_display_events_coalesced_total", Help: "Events replaced by a newer one of their topic before a slow screen took them."}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_display_snapshots_total", Help: "Snapshots sent (connect, gap, layout change, resync)."}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_display_resumes_total", Help: "Reconnections served by replaying the missed events."}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_display_fanout_resyncs_total", Help: "Times the fan-out fell behind the bus and resent every screen a snapshot."}),
		wentOffline: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_display_offline_total", Help: "Screens marked offline by the sweep after two missed heartbeats."}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "communehub_display_delivery_seconds", Help: "Publish to write on a display socket.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
	}
	if hm != nil && hm.Registry != nil {
		hm.Registry.MustRegister(m.opened, m.closes, m.slow, m.rejected, m.sent, m.coalesced, m.snapshots,
			m.resumes, m.resyncs, m.wentOffline, m.delivery,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "communehub_display_sockets", Help: "Open display sockets (paired and waiting)."}, conns))
	}
	return m
}
