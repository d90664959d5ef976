package web

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tezgah/tezgah/agent/logging"
	"github.com/tezgah/tezgah/outbox"
)

// Metrics is the agent's Prometheus registry and its observer of the
// workers (dispatch.Observer) and of WebSocket connections
// (wsapi.Observer). It also keeps each provider's connectivity for the
// status page: the same calls feed both, so they never disagree.
//
// It has its own registry rather than the global one, so two agents in
// one test process do not collide.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	accepted    *prometheus.CounterVec
	results     *prometheus.CounterVec
	callSeconds *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	reconciled  *prometheus.CounterVec
	wsOpen      prometheus.Gauge
	wsEvents    *prometheus.CounterVec
	lastOK      *prometheus.GaugeVec

	mu        sync.Mutex // guards providers
	providers map[string]*providerState
}

// providerState is what the status page shows about a provider.
type providerState struct {
	lastOK      time.Time
	lastErrAt   time.Time
	lastErr     string
	failures    int // calls failed in a row
	pausedUntil time.Time
	nextRetry   time.Time
}

// NewMetrics returns an empty registry with the agent's metrics, the Go
// runtime's and the process's.
func NewMetrics(version string, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), now: now, providers: map[string]*providerState{}}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tezgah_build_info", Help: "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tezgah_requests_accepted_total", Help: "Requests committed to the outbox and acknowledged as accepted.",
	}, []string{"provider", "terminal"})
	m.results = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tezgah_results_total", Help: "Requests that reached a final status.",
	}, []string{"provider", "terminal", "status"})
	m.callSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tezgah_provider_call_duration_seconds", Help: "Provider API calls (send or query) by outcome: ok when the provider answered.",
		// A card sale waits for the customer at the terminal: up to
		// minutes, so the buckets reach far.
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"provider", "call", "outcome"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tezgah_retries_total", Help: "Requests put back to wait for another try, by reason code.",
	}, []string{"provider", "terminal", "reason"})
	m.reconciled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tezgah_reconciliations_total", Help: "Queries answering what happened to a request that may have reached the provider, by outcome.",
	}, []string{"provider", "outcome"})
	m.wsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tezgah_websocket_connections", Help: "Open register WebSocket connections.",
	})
	m.wsEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tezgah_websocket_connections_total", Help: "WebSocket connections opened, closed and refused (refused_host, refused_token, refused_origin).",
	}, []string{"event"})
	m.lastOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tezgah_provider_last_success_timestamp_seconds", Help: "When the provider last answered a call (unix seconds).",
	}, []string{"provider"})
	m.reg.MustRegister(build, m.accepted, m.results, m.callSeconds, m.retries, m.reconciled, m.wsOpen, m.wsEvents, m.lastOK)
	return m
}

// Registry is where /metrics reads from; a caller may add its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) provider(name string) *providerState {
	p := m.providers[name]
	if p == nil {
		p = &providerState{}
		m.providers[name] = p
	}
	return p
}

// Call implements dispatch.Observer.
func (m *Metrics) Call(provider, terminal, call string, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.callSeconds.WithLabelValues(provider, call, outcome).Observe(took.Seconds())
	now := m.now()
	m.mu.Lock()
	p := m.provider(provider)
	if err == nil {
		p.lastOK, p.failures = now, 0
	} else {
		// Provider errors may quote what was sent; never show a card.
		p.lastErrAt, p.lastErr, p.failures = now, logging.MaskPANs(err.Error()), p.failures+1
	}
	m.mu.Unlock()
	if err == nil {
		m.lastOK.WithLabelValues(provider).Set(float64(now.UnixMilli()) / 1000)
	}
}

// Retry implements dispatch.Observer.
func (m *Metrics) Retry(provider, terminal, reason string, next time.Time) {
	m.retries.WithLabelValues(provider, terminal, reason).Inc()
	m.mu.Lock()
	m.provider(provider).nextRetry = next
	m.mu.Unlock()
}

// Reconciled implements dispatch.Observer.
func (m *Metrics) Reconciled(provider, terminal, outcome string) {
	m.reconciled.WithLabelValues(provider, outcome).Inc()
}

// Paused implements dispatch.Observer.
func (m *Metrics) Paused(provider string, until time.Time) {
	m.mu.Lock()
	if p := m.provider(provider); until.After(p.pausedUntil) {
		p.pausedUntil = until
	}
	m.mu.Unlock()
}

// Connection implements wsapi.Observer.
func (m *Metrics) Connection(event string) {
	m.wsEvents.WithLabelValues(event).Inc()
	switch event {
	case "opened":
		m.wsOpen.Inc()
	case "closed":
		m.wsOpen.Dec()
	}
}

// ProviderView is one provider's connectivity on the status page.
type ProviderView struct {
	Name string `json:"name"`
	// State is "ok" (the last call was answered), "failing" (the last
	// calls failed; see Failures), "paused" (the provider asked us to
	// wait: Retry-After) or "idle" (no call since the agent started).
	State       string `json:"state"`
	LastSuccess string `json:"last_success,omitempty"` // RFC 3339
	LastErrorAt string `json:"last_error_at,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	Failures    int    `json:"failures"`
	PausedUntil string `json:"paused_until,omitempty"`
	NextRetry   string `json:"next_retry,omitempty"`
}

func (m *Metrics) providerView(name string) ProviderView {
	now := m.now()
	m.mu.Lock()
	p := *m.provider(name)
	m.mu.Unlock()
	v := ProviderView{Name: name, State: "idle", Failures: p.failures,
		LastSuccess: stamp(p.lastOK), LastErrorAt: stamp(p.lastErrAt), LastError: p.lastErr}
	switch {
	case p.pausedUntil.After(now):
		v.State, v.PausedUntil = "paused", stamp(p.pausedUntil)
	case p.failures > 0:
		v.State = "failing"
	case !p.lastOK.IsZero():
		v.State = "ok"
	}
	if p.failures > 0 && p.nextRetry.After(now) {
		v.NextRetry = stamp(p.nextRetry)
	}
	return v
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// countEvents counts the acceptances and results in a page of outbox
// events, by provider and terminal. Counting from the event log, rather
// than where requests are accepted or finished, catches every path —
// WebSocket, file drop, expiry, cancellation — in one place. Events carry
// their terminal; only those written before they did are looked up.
func (m *Metrics) countEvents(ctx context.Context, store Store, evs []outbox.Event, providerOf map[string]string) error {
	var missing []string
	for _, e := range evs {
		if e.Terminal == "" && (e.Type == outbox.EventAccepted || e.Type == outbox.EventResult) {
			missing = append(missing, e.ID)
		}
	}
	var terms map[string]string
	if len(missing) > 0 {
		var err error
		if terms, err = store.Terminals(ctx, missing); err != nil {
			return err
		}
	}
	for _, e := range evs {
		t := e.Terminal
		if t == "" {
			if t = terms[e.ID]; t == "" {
				continue // pruned meanwhile
			}
		}
		switch e.Type {
		case outbox.EventAccepted:
			m.accepted.WithLabelValues(providerOf[t], t).Inc()
		case outbox.EventResult:
			m.results.WithLabelValues(providerOf[t], t, string(e.State)).Inc()
		}
	}
	return nil
}

// outboxCollector reads the outbox's backlog at scrape time, so the
// figures are exact and cost nothing between scrapes.
type outboxCollector struct {
	store     Store
	terminals []string
	now       func() time.Time
	pending   *prometheus.Desc
	unknown   *prometheus.Desc
	oldest    *prometheus.Desc
	up        *prometheus.Desc
}

func newOutboxCollector(store Store, terminals []string, now func() time.Time) *outboxCollector {
	return &outboxCollector{
		store: store, terminals: terminals, now: now,
		pending: prometheus.NewDesc("tezgah_outbox_pending", "Requests not yet final (queued, sending or unknown).", []string{"terminal"}, nil),
		unknown: prometheus.NewDesc("tezgah_outbox_unknown", "Requests whose outcome is being reconciled with the provider.", []string{"terminal"}, nil),
		oldest:  prometheus.NewDesc("tezgah_outbox_oldest_age_seconds", "Age of the oldest request not yet final; 0 when there is none.", []string{"terminal"}, nil),
		up:      prometheus.NewDesc("tezgah_outbox_readable", "1 when the outbox could be read for this scrape.", nil, nil),
	}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.unknown
	ch <- c.oldest
	ch <- c.up
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.store.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	now := c.now()
	for _, t := range c.terminals {
		st := stats[t]
		age := 0.0
		if !st.Oldest.IsZero() {
			age = max(0, now.Sub(st.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending), t)
		ch <- prometheus.MustNewConstMetric(c.unknown, prometheus.GaugeValue, float64(st.Unknown), t)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, t)
	}
}
