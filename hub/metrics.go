package hub

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the kernel's Prometheus metrics. Features register their own
// on the same Registry (Metrics.Registry).
type Metrics struct {
	Registry *prometheus.Registry

	BusPublished   prometheus.Counter
	BusDropped     prometheus.Counter
	BusUndeclared  prometheus.Counter
	BusSubscribers prometheus.Gauge
	OutboxFollowed prometheus.Counter
	OutboxLag      prometheus.Gauge
	OutboxPruned   prometheus.Counter
	WSConnections  prometheus.Gauge
	HTTPRequests   *prometheus.CounterVec
	LoginFailures  *prometheus.CounterVec
	Conns          *ConnMetrics // the guarded listeners (listen.go)
}

// NewMetrics creates a registry with the Go and process collectors and the
// kernel's metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		BusPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_bus_published_total", Help: "Events published on the in-process bus."}),
		BusDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_bus_subscribers_dropped_total", Help: "Bus subscribers dropped because their queue overflowed."}),
		BusUndeclared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_bus_undeclared_total", Help: "Events published on a topic no feature declared (a programming error; each such topic is logged once)."}),
		BusSubscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "communehub_bus_subscribers", Help: "Live bus subscriptions."}),
		OutboxFollowed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_outbox_events_followed_total", Help: "Outbox rows read and published on this instance's bus."}),
		OutboxLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "communehub_outbox_lag_seconds", Help: "Age of the last outbox row published when it was published."}),
		OutboxPruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "communehub_outbox_pruned_total", Help: "Outbox rows deleted past the retention (each topic's newest is kept)."}),
		WSConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "communehub_ws_connections", Help: "Open /ws event sockets."}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_http_requests_total", Help: "HTTP requests by status class."}, []string{"class"}),
		LoginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "communehub_login_failures_total", Help: "Refused logins by reason: unknown_user, wrong_password, disabled, locked_account, locked_ip, busy."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.LoginFailures)
	reg.MustRegister(m.BusPublished, m.BusDropped, m.BusUndeclared, m.BusSubscribers, m.OutboxFollowed, m.OutboxLag, m.OutboxPruned, m.WSConnections, m.HTTPRequests)
	m.Conns = NewConnMetrics(reg)
	return m
}
