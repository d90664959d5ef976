package agent

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// blackHole passes requests to the provider but, while on, never answers:
// the worst outage for money, where the provider may have acted and the
// agent cannot tell.
type blackHole struct {
	next http.Handler
	on   atomic.Bool
}

func (b *blackHole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !b.on.Load() {
		b.next.ServeHTTP(w, r)
		return
	}
	b.next.ServeHTTP(httptest.NewRecorder(), r) // the provider acts; the answer is lost
	<-r.Context().Done()
}

// TestProviderBlackHole: while the provider swallows every answer, sales
// keep being accepted; the one in flight becomes "unknown" and is not sent
// again; one queued behind it expires and is never sent. When answers come
// back, the unknown sale is reconciled by query to the provider's record
// (charged once) and the queue drains.
func TestProviderBlackHole(t *testing.T) {
	cfg := config.Demo()
	sim := iyzicosim.New(iyzicosim.Options{
		ClientID: cfg.Iyzico.ClientID, ClientSecret: cfg.Iyzico.ClientSecret,
		Username: cfg.Iyzico.Username, Password: cfg.Iyzico.Password,
		Devices: []string{"P00134", "P00135"},
	})
	hole := &blackHole{}
	h := startAgentWith(t, "", sim,
		func(next http.Handler) http.Handler { hole.next = next; return hole },
		func(c *config.Config) { c.Iyzico.Timeout.Duration = 300 * time.Millisecond })
	c := h.dial(t)

	// Log in while the network is fine, so the outage hits the sale itself.
	c.send(`{"type":"sale","id":"WARM","terminal":"kasa-1","amount":"1.00"}`)
	if r := c.until("result", "WARM"); r.Status != "approved" {
		t.Fatalf("warm-up sale: %+v", r)
	}

	hole.on.Store(true)
	c.send(`{"type":"sale","id":"LOST","terminal":"kasa-1","amount":"42.00","expires_in":600}`)
	c.until("accepted", "LOST")
	if ev := c.until("state", "LOST"); ev.State != "sending" {
		t.Fatalf("LOST: %+v, want sending", ev)
	}
	if ev := c.until("state", "LOST"); ev.State != "unknown" {
		t.Fatalf("LOST after the timeout: %+v, want unknown", ev)
	}
	// Queued behind the unknown sale: the customer leaves before it is sent.
	c.send(`{"type":"sale","id":"GONE","terminal":"kasa-1","amount":"7.00","expires_in":1}`)
	c.send(`{"type":"sale","id":"LATER","terminal":"kasa-1","amount":"9.00","expires_in":600}`)
	c.until("accepted", "GONE")
	c.until("accepted", "LATER")
	if r := c.until("result", "GONE"); r.Status != "expired" {
		t.Fatalf("GONE: %+v, want expired", r)
	}

	hole.on.Store(false)
	if r := c.until("result", "LOST"); r.Status != "approved" {
		t.Fatalf("LOST: %+v, want approved by reconciliation", r)
	}
	if r := c.until("result", "LATER"); r.Status != "approved" {
		t.Fatalf("LATER: %+v", r)
	}
	charges := sim.ChargesByReference()
	if len(charges) != 3 {
		t.Fatalf("provider charged %d references (%v), want 3: WARM, LOST once, LATER", len(charges), charges)
	}
	for ref, n := range charges {
		if n != 1 {
			t.Errorf("reference %s charged %d times", ref, n)
		}
	}
}
