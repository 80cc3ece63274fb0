package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	jobs        *prometheus.CounterVec
	held        prometheus.Gauge
	heldSeconds prometheus.Histogram
	sessions    *prometheus.GaugeVec
	// sessionsClosed counts ended live sessions by why they ended.
	sessionsClosed *prometheus.CounterVec
	// sessionWrites and sessionMessages count the writes to live sessions' connections and the
	// messages they carried: their ratio is how well events are coalesced (--event-linger).
	sessionWrites, sessionMessages *prometheus.CounterVec
	// lostReplies counts jobs answered from their store records because no reply came.
	lostReplies prometheus.Counter
	// unsentBatches counts batches this gateway failed because their send lease ran out.
	unsentBatches prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "forecastd_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"route"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_jobs_completed_total", Help: "Jobs answered to a waiting client, by kind and JSend status.",
		}, []string{"kind", "status"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "forecastd_forecasts_held", Help: "Forecasts currently held waiting for fits.",
		}),
		heldSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "forecastd_forecast_hold_seconds", Help: "How long held forecasts waited.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "forecastd_sessions", Help: "Open live sessions by transport.",
		}, []string{"transport"}),
		sessionsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_sessions_closed_total", Help: "Live sessions that ended, by transport and reason (client, slow_consumer, write_failed, ping_timeout, shutdown, replay_failed, done).",
		}, []string{"transport", "reason"}),
		sessionWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_session_writes_total", Help: "Writes to live sessions' connections, by transport; each carries one or more messages.",
		}, []string{"transport"}),
		sessionMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forecastd_session_messages_total", Help: "Messages (events, replies) written to live sessions, by transport.",
		}, []string{"transport"}),
		lostReplies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forecastd_replies_recovered_total", Help: "Jobs answered from their store record because the processor's reply did not arrive (lost with the reply queue in a broker restart).",
		}),
		unsentBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forecastd_batches_unsent_total", Help: "Batches failed because their send lease ran out: the gateway publishing them stopped (or could not renew the lease) before every series was sent.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.jobs, m.held, m.heldSeconds, m.sessions, m.sessionsClosed, m.sessionWrites, m.sessionMessages, m.lostReplies, m.unsentBatches)
	return m
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines of the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (g *Gateway) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		g.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		g.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
