package telemetry

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the node's Prometheus metrics, on a registry of their own.
type Metrics struct {
	reg *prometheus.Registry

	coldStart     prometheus.Histogram
	boot          prometheus.Histogram
	init          prometheus.Histogram
	stop          prometheus.Histogram
	startFailures prometheus.Counter
	events        *prometheus.HistogramVec
	exits         *prometheus.CounterVec
	functionLogs  *prometheus.CounterVec
	castWait      prometheus.Histogram
	admission     [2]prometheus.Observer // refused, admitted
}

// Namespace prefixes every metric name.
const Namespace = "edgeless_node"

// NewMetrics returns the node's metrics on a fresh registry, with the Go
// and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	startBuckets := prometheus.ExponentialBuckets(0.025, 2, 12) // 25ms .. 51s
	m := &Metrics{
		reg: reg,
		coldStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "instance_cold_start_seconds",
			Help:    "Time from a FunctionInstance.Start request to an initialized instance.",
			Buckets: startBuckets,
		}),
		boot: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "instance_boot_seconds",
			Help:    "Time from the container's start to a successful Boot (the CLI's \"boot\" step).",
			Buckets: startBuckets,
		}),
		init: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "instance_init_seconds",
			Help:    "Time the Init call of an instance took.",
			Buckets: startBuckets,
		}),
		stop: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "instance_stop_seconds",
			Help:    "Time to stop an instance and remove its container.",
			Buckets: startBuckets,
		}),
		startFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "instance_start_failures_total",
			Help: "FunctionInstance.Start requests answered with an error.",
		}),
		events: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "event_duration_seconds",
			Help:    "Casts and calls delivered to local instances, by kind (cast, call) and outcome (ok, no_reply, err, error), with their latency.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18), // 0.2ms .. 26s
		}, []string{"kind", "outcome"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "container_exits_total",
			Help: "Instances whose container ended on its own, by reason (exited, oom-killed, killed, ...).",
		}, []string{"reason"}),
		functionLogs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "function_log_entries_total",
			Help: "TelemetryLog entries written by functions, by level.",
		}, []string{"level"}),
		castWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "dataplane_cast_queue_wait_seconds",
			Help: "Time casts waited in their instance's queue before their delivery began ([dataplane] max_queue_delay_ms bounds it).",
			// Boundaries at the usual settings of max_queue_delay_ms.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, .75, 1, 2.5, 5, 10},
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.coldStart, m.boot, m.init, m.stop, m.startFailures, m.events, m.exits, m.functionLogs, m.castWait,
	)
	admission := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "dataplane_cast_admission_wait_seconds",
		Help: "Time casts waited for admission to their instance's queue ([dataplane] max_admission_wait_ms bounds it), by outcome (admitted, refused); casts admitted at once are not counted.",
		// Boundaries at the usual settings of max_admission_wait_ms.
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .15, .2, .25, .5, 1},
	}, []string{"outcome"})
	reg.MustRegister(admission)
	m.admission = [2]prometheus.Observer{admission.WithLabelValues("refused"), admission.WithLabelValues("admitted")}
	return m
}

// ObserveCastWait records the time one cast waited in its instance's queue
// (for the data plane's Config.ObserveCastWait).
func (m *Metrics) ObserveCastWait(d time.Duration) { m.castWait.Observe(d.Seconds()) }

// ObserveAdmissionWait records the time one cast waited for admission to
// its instance's queue, and whether it was admitted (for the data plane's
// Config.ObserveAdmissionWait).
func (m *Metrics) ObserveAdmissionWait(d time.Duration, admitted bool) {
	i := 0
	if admitted {
		i = 1
	}
	m.admission[i].Observe(d.Seconds())
}

// Registry returns the registry, to register more collectors on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// InstanceStates exports the number of instances by state, read from count
// at each scrape.
func (m *Metrics) InstanceStates(states []string, count func() map[string]int) {
	desc := prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "instances"),
		"Function instances on this node, by state.", []string{"state"}, nil)
	m.reg.MustRegister(&stateCollector{desc: desc, states: states, count: count})
}

type stateCollector struct {
	desc   *prometheus.Desc
	states []string
	count  func() map[string]int
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.count()
	for _, s := range c.states {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n[s]), s)
	}
}

// CounterFunc exports a counter whose value is read from f at each scrape.
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: Namespace, Name: name, Help: help,
	}, f))
}

// GaugeFunc exports a gauge whose value is read from f at each scrape.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: name, Help: help,
	}, f))
}
