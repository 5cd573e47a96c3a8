// Package metrics exposes what a live run finds as Prometheus metrics,
// with prometheus/client_golang, for a mail team's existing Prometheus
// and Alertmanager. It is a sink beside the report: it counts the
// connections and incidents package report hands it and decides nothing.
//
// Names follow the Prometheus naming practice: a smtpscope_ prefix, base
// units (seconds, bytes), _total on counters. Labels never carry mail
// addresses or client addresses: the only address is the server's
// ip:port ("server"), bounded by Options.MaxServers, beyond which
// servers share the label value "other".
//
//	smtpscope_transactions_total{server,outcome}       mail transactions by outcome (delivered, deferred, rejected, no-reply, aborted, withdrawn, unknown)
//	smtpscope_transaction_failures_total{server,cause} failed transactions by the report's cause (eod-no-reply, eod-partial-reply, …)
//	smtpscope_eod_reply_latency_seconds{server}        end-of-data to final reply
//	smtpscope_incidents_total{server,kind}             live incidents (eod-timeout and the report's causes)
//	smtpscope_connections_total{server,l4_verdict}     ended connections by TCP verdict (healthy, degraded, broken)
//	smtpscope_tls_failures_total{server,cause}         ended connections diagnosed at the TLS layer, by cause (tls-handshake-failed, tls-cert-rejected, starttls-refused, …)
//	smtpscope_tcp_retransmissions_total{server}        retransmitted segments of ended connections
//	smtpscope_tcp_resets_total{server}                 RST segments of ended connections
//	smtpscope_open_connections                         connections not ended
//	smtpscope_analysed_bytes_total                     bytes of the captured frames analysed
//	smtpscope_capture_dropped_packets_total{by}        packets lost before analysis: by="kernel" (no buffer room) or "interface", as libpcap reports them, or "ring" (smtpscope's own buffer between capture and analysis was full)
//	smtpscope_build_info{version,goversion}            1
package metrics

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smtpscope/smtpscope/report"
)

// DefaultMaxServers is how many servers get a label value of their own.
const DefaultMaxServers = 50

// OtherServer is the server label value of servers beyond the bound.
const OtherServer = "other"

// Options tunes the metrics. The zero value is ready to use.
type Options struct {
	// MaxServers bounds the distinct server label values (zero:
	// DefaultMaxServers); later servers count under OtherServer.
	MaxServers int
	// Version is the build's version for smtpscope_build_info.
	Version string
	// Dropped, if set, returns the capture's drop counters (libpcap's
	// ps_drop and ps_ifdrop), read at each scrape.
	Dropped func() (kernel, iface int)
}

// Metrics is the set of a run's metrics, in a registry of its own.
type Metrics struct {
	reg        *prometheus.Registry
	maxServers int

	mu      sync.Mutex
	servers map[string]bool

	transactions *prometheus.CounterVec
	failures     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	incidents    *prometheus.CounterVec
	connections  *prometheus.CounterVec
	tlsFailures  *prometheus.CounterVec
	retrans      *prometheus.CounterVec
	resets       *prometheus.CounterVec
	open         prometheus.Gauge
	bytes        prometheus.Counter
	ringDropped  prometheus.Counter
}

// latencyBuckets span a normal end-of-data reply (milliseconds) to RFC
// 5321 §4.5.3.2.6's 10-minute end-of-data timeout.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// New returns the metrics, registered in a registry of their own.
func New(opts Options) *Metrics {
	if opts.MaxServers <= 0 {
		opts.MaxServers = DefaultMaxServers
	}
	m := &Metrics{reg: prometheus.NewRegistry(), maxServers: opts.MaxServers, servers: map[string]bool{}}
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.transactions = f("smtpscope_transactions_total", "Mail transactions of ended connections, by server and outcome.", "server", "outcome")
	m.failures = f("smtpscope_transaction_failures_total", "Failed mail transactions, by server and the report's cause.", "server", "cause")
	m.incidents = f("smtpscope_incidents_total", "Incidents told while connections were open, by server and kind.", "server", "kind")
	m.connections = f("smtpscope_connections_total", "Ended TCP connections, by server and L4 verdict.", "server", "l4_verdict")
	m.tlsFailures = f("smtpscope_tls_failures_total", "Ended connections whose diagnosis is at the TLS layer, by server and cause.", "server", "cause")
	m.retrans = f("smtpscope_tcp_retransmissions_total", "Retransmitted TCP segments of ended connections, by server.", "server")
	m.resets = f("smtpscope_tcp_resets_total", "TCP segments with RST of ended connections, by server.", "server")
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "smtpscope_eod_reply_latency_seconds",
		Help: "Time from the client's end-of-data to the server's final reply, by server.", Buckets: latencyBuckets}, []string{"server"})
	m.open = prometheus.NewGauge(prometheus.GaugeOpts{Name: "smtpscope_open_connections", Help: "TCP connections seen and not ended yet."})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "smtpscope_analysed_bytes_total", Help: "Bytes of the captured frames analysed."})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "smtpscope_build_info", Help: "The smtpscope build: always 1."}, []string{"version", "goversion"})
	build.WithLabelValues(opts.Version, runtime.Version()).Set(1)
	m.ringDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: droppedName, Help: droppedHelp, ConstLabels: prometheus.Labels{"by": "ring"}})
	m.reg.MustRegister(m.latency, m.open, m.bytes, build, m.ringDropped)
	if opts.Dropped != nil {
		for _, by := range []string{"kernel", "interface"} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: droppedName,
				Help: droppedHelp, ConstLabels: prometheus.Labels{"by": by}},
				func() float64 {
					k, i := opts.Dropped()
					if by == "kernel" {
						return float64(k)
					}
					return float64(i)
				}))
		}
	}
	return m
}

// The dropped packets counter, by="kernel", "interface" or "ring".
const (
	droppedName = "smtpscope_capture_dropped_packets_total"
	droppedHelp = "Packets the capture lost before analysis: by the kernel (no buffer room) or the interface, as libpcap counts them, or by smtpscope's ring between capture and analysis."
)

// AddRingDropped counts frames captured but dropped because the analysis
// was too far behind.
func (m *Metrics) AddRingDropped(n int) { m.ringDropped.Add(float64(n)) }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// server returns the label value of a server: itself while the bound
// allows, else OtherServer.
func (m *Metrics) server(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.servers[s] {
		return s
	}
	if len(m.servers) < m.maxServers {
		m.servers[s] = true
		return s
	}
	return OtherServer
}

// Connection counts an ended connection (report.Builder.OnAdd).
func (m *Metrics) Connection(c *report.Connection) {
	srv := m.server(c.Server)
	m.connections.WithLabelValues(srv, c.L4.Verdict).Inc()
	m.retrans.WithLabelValues(srv).Add(float64(c.L4.Retransmissions))
	m.resets.WithLabelValues(srv).Add(float64(c.L4.Resets))
	if c.Diagnosis.Layer == report.LayerTLS {
		m.tlsFailures.WithLabelValues(srv, string(c.Diagnosis.Cause)).Inc()
	}
	if c.SMTP == nil {
		return
	}
	for i := range c.SMTP.Transactions {
		tx := &c.SMTP.Transactions[i]
		m.transactions.WithLabelValues(srv, tx.Outcome).Inc()
		if c.SMTP.Verdict == "failed" && tx.Diagnosis.Cause != report.CauseOK && tx.Outcome != "delivered" && tx.Outcome != "unknown" {
			m.failures.WithLabelValues(srv, string(tx.Diagnosis.Cause)).Inc()
		}
		if tx.Reply != nil && tx.EODFrame != 0 {
			m.latency.WithLabelValues(srv).Observe(tx.Reply.LatencyMS / 1000)
		}
	}
}

// Incident counts a live incident.
func (m *Metrics) Incident(in *report.Incident) {
	m.incidents.WithLabelValues(m.server(in.Server), string(in.Kind)).Inc()
}

// SetOpen sets the number of open connections.
func (m *Metrics) SetOpen(n int) { m.open.Set(float64(n)) }

// AddBytes counts analysed bytes.
func (m *Metrics) AddBytes(n int) { m.bytes.Add(float64(n)) }

// Serve serves the metrics at http://addr/metrics until stop is called.
func (m *Metrics) Serve(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
