package web

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tezgah/tezgah/agent/logging"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/bridge"
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
	agentInfo   *prometheus.GaugeVec
	saleTimeout prometheus.Gauge
	dbErrors    *prometheus.CounterVec
	version     string
	certOnce    sync.Once

	mu        sync.Mutex // guards providers, undelivered, early, counted
	providers map[string]*providerState
	// undelivered are the results counted from the event log that no
	// register has been sent yet, with when they were counted; early
	// are results (by seq) a register was sent before Run counted them,
	// since the two follow the log independently; counted is the seq
	// of the last result counted. All in memory: after a restart only
	// new results count.
	undelivered map[string]time.Time
	early       map[string]int64
	counted     int64
}

// Bounds of the delivery bookkeeping, so a register that never collects
// its results cannot grow the agent's memory without end. Past
// maxUndelivered new results are not tracked (the gauge stays at the
// bound and the oldest age keeps growing: the alert still fires).
const (
	maxUndelivered = 10000
	maxEarly       = 4096
)

// Label values known in advance, so every counter exists at 0 from the
// first scrape and increase() sees the first event.
var (
	finalStatuses = []string{string(outbox.Approved), string(outbox.Declined), string(outbox.Failed), string(outbox.Expired), string(outbox.Cancelled)}
	// reconcileOutcomes: a query finds the final status the provider
	// recorded, or that it never received the request.
	reconcileOutcomes = []string{string(outbox.Approved), string(outbox.Declined), string(outbox.Failed), "not_found"}
	// retryReasons are the transport failures every adapter shares
	// (bridge/transport.go) and the providers' rate limits; a query's
	// are prefixed "query_". Other reasons are the providers' own codes
	// and appear when first met.
	retryReasons = []string{"connect_failed", "connection_lost", "timeout", "rate_limited"}
	// DBOps are the places a database error is counted: accepting a
	// request, a worker's step, and reading the backlog for /metrics.
	dbOps = []string{DBAccept, DBWorker, DBRead}
)

// Where a database error happened, the op label of
// tezgah_database_errors_total.
const (
	DBAccept = "accept"
	DBWorker = "worker"
	DBRead   = "read"
)

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
	m := &Metrics{reg: prometheus.NewRegistry(), now: now, version: version, providers: map[string]*providerState{},
		undelivered: map[string]time.Time{}, early: map[string]int64{}}
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
		Name: "tezgah_websocket_connections_total",
		Help: "WebSocket connections by event: " + strings.Join(wsapi.ConnectionEvents, ", ") + ".",
	}, []string{"event"})
	for _, e := range wsapi.ConnectionEvents {
		m.wsEvents.WithLabelValues(e)
	}
	m.lastOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tezgah_provider_last_success_timestamp_seconds", Help: "When the provider last answered a call (unix seconds).",
	}, []string{"provider"})
	m.agentInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tezgah_agent_info", Help: "Always 1; says which agent this is (agent.id), which shop it serves (agent.shop) and its version.",
	}, []string{"agent_id", "shop", "version"})
	m.saleTimeout = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tezgah_sale_timeout_seconds", Help: "agent.sale_timeout: a sale not sent by then expires; a request pending longer is overdue.",
	})
	m.dbErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tezgah_database_errors_total", Help: "Database operations that failed, by where: accept, worker, read.",
	}, []string{"op"})
	for _, op := range dbOps {
		m.dbErrors.WithLabelValues(op)
	}
	m.reg.MustRegister(build, m.accepted, m.results, m.callSeconds, m.retries, m.reconciled, m.wsOpen, m.wsEvents, m.lastOK,
		m.agentInfo, m.saleTimeout, m.dbErrors, deliveryCollector{m})
	return m
}

// SetAgent sets tezgah_agent_info's labels: the agent's id and its shop.
func (m *Metrics) SetAgent(id, shop string) {
	m.agentInfo.Reset()
	m.agentInfo.WithLabelValues(id, shop, m.version).Set(1)
}

// SetSaleTimeout exports agent.sale_timeout, for rules that compare the
// oldest pending request's age with it.
func (m *Metrics) SetSaleTimeout(d time.Duration) { m.saleTimeout.Set(d.Seconds()) }

// SetCertificateExpiry exports when the TLS certificate expires; without
// TLS the metric is absent, so no rule mistakes "no certificate" for an
// expired one.
func (m *Metrics) SetCertificateExpiry(notAfter time.Time) {
	m.certOnce.Do(func() {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tezgah_tls_certificate_expiry_timestamp_seconds", Help: "When the agent's TLS certificate (lan.tls) stops being valid (unix seconds).",
		}, func() float64 { return float64(notAfter.Unix()) }))
	})
}

// DatabaseError counts a failed database operation at op (DBAccept,
// DBWorker, DBRead).
func (m *Metrics) DatabaseError(op string) { m.dbErrors.WithLabelValues(op).Inc() }

// StoreError implements the dispatcher's optional error observer: a
// worker's step failed on the database.
func (m *Metrics) StoreError(provider, terminal string, err error) { m.DatabaseError(DBWorker) }

// knownTerminals creates every counter and histogram of terms at 0.
func (m *Metrics) knownTerminals(terms []bridge.Terminal) {
	providers := map[string]bool{}
	for _, t := range terms {
		providers[t.Provider] = true
		m.accepted.WithLabelValues(t.Provider, t.Name)
		for _, st := range finalStatuses {
			m.results.WithLabelValues(t.Provider, t.Name, st)
		}
		for _, r := range retryReasons {
			m.retries.WithLabelValues(t.Provider, t.Name, r)
			m.retries.WithLabelValues(t.Provider, t.Name, "query_"+r)
		}
	}
	for p := range providers {
		for _, call := range []string{"send", "query"} {
			for _, outcome := range []string{"ok", "error"} {
				m.callSeconds.WithLabelValues(p, call, outcome)
			}
		}
		for _, o := range reconcileOutcomes {
			m.reconciled.WithLabelValues(p, o)
		}
	}
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

// Delivered implements wsapi.Observer: a register has been sent the
// result of request id, whose event is seq.
func (m *Metrics) Delivered(register, id string, seq int64) {
	id = deliveryKey(register, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.undelivered[id]; ok {
		delete(m.undelivered, id)
		return
	}
	if seq <= m.counted {
		return // delivered again, or older than this process
	}
	// Not counted yet: the register was faster than Run.
	if len(m.early) >= maxEarly {
		for k, q := range m.early {
			if q <= m.counted { // its result was never counted (pruned)
				delete(m.early, k)
			}
		}
		if len(m.early) >= maxEarly {
			return
		}
	}
	m.early[id] = seq
}

// startCounting says Run counts the results after seq; earlier ones were
// final before this process could watch them.
func (m *Metrics) startCounting(seq int64) {
	m.mu.Lock()
	m.counted = max(m.counted, seq)
	m.mu.Unlock()
}

// resultFinal notes a result counted from the event log as waiting for a
// register, unless one has already been sent it.
func (m *Metrics) resultFinal(register, id string, seq int64) {
	id = deliveryKey(register, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counted = max(m.counted, seq)
	if _, ok := m.early[id]; ok {
		delete(m.early, id)
		return
	}
	if len(m.undelivered) < maxUndelivered {
		m.undelivered[id] = m.now()
	}
}

// deliveryKey names a request across registers: ids are per register.
func deliveryKey(register, id string) string { return register + "\x00" + id }

// deliveryCollector exports the undelivered results at scrape time.
type deliveryCollector struct{ m *Metrics }

var (
	undeliveredDesc = prometheus.NewDesc("tezgah_results_undelivered",
		"Results reached since the agent started that no register has been sent yet (WebSocket, query or drop folder).", nil, nil)
	undeliveredAgeDesc = prometheus.NewDesc("tezgah_results_undelivered_oldest_age_seconds",
		"How long the oldest undelivered result has waited for a register; 0 when none.", nil, nil)
)

func (c deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- undeliveredDesc
	ch <- undeliveredAgeDesc
}

func (c deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	now := m.now()
	m.mu.Lock()
	n, age := len(m.undelivered), 0.0
	for _, at := range m.undelivered {
		age = max(age, now.Sub(at).Seconds())
	}
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(undeliveredDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(undeliveredAgeDesc, prometheus.GaugeValue, age)
}

// Connection implements wsapi.Observer.
func (m *Metrics) Connection(event string) {
	m.wsEvents.WithLabelValues(event).Inc()
	switch event {
	case wsapi.EventOpened:
		m.wsOpen.Inc()
	case wsapi.EventClosed:
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
			m.resultFinal(e.Register, e.ID, e.Seq)
		}
	}
	return nil
}

// outboxCollector reads the outbox's backlog at scrape time, so the
// figures are exact and cost nothing between scrapes.
type outboxCollector struct {
	m         *Metrics
	store     Store
	terminals []string
	now       func() time.Time
	pending   *prometheus.Desc
	unknown   *prometheus.Desc
	oldest    *prometheus.Desc
	up        *prometheus.Desc
}

func newOutboxCollector(m *Metrics, store Store, terminals []string, now func() time.Time) *outboxCollector {
	return &outboxCollector{
		m: m, store: store, terminals: terminals, now: now,
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
		c.m.DatabaseError(DBRead)
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
