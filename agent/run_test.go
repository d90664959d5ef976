package agent

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/protocol"
)

// runAgent runs a real agent built from cfg and opts until the test ends,
// and returns once it listens. The test fails, never hangs: if Run ends
// before listening, the failure says why and the cleanup does not wait on
// a Run that has already returned; shutdown is bounded too. stop may be
// called early (to restart on the same data dir); later calls do nothing.
func runAgent(t *testing.T, cfg *config.Config, opts Options) *harness {
	t.Helper()
	ready := make(chan string, 1)
	opts.Ready = func(u string) { ready <- u }
	a, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("agent did not shut down")
		}
	}
	t.Cleanup(stop)
	h := &harness{cfg: cfg, dir: cfg.Agent.DataDir, a: a, stop: stop}
	select {
	case h.url = <-ready:
	case err := <-done:
		stopped = true // Run has returned: nothing left to wait for
		cancel()
		t.Fatalf("agent stopped before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not listen")
	}
	return h
}

// payment is the part of a result's payment object the tests check.
type payment struct {
	Provider  string `json:"provider"`
	PaymentID string `json:"payment_id"`
	MaskedPAN string `json:"masked_pan"`
	Amount    string `json:"amount"`
}

// paymentOf decodes ev's payment object; an approved result without one
// fails the test.
func paymentOf(t *testing.T, ev protocol.Event) payment {
	t.Helper()
	var p payment
	if ev.Status == "approved" {
		if err := json.Unmarshal(ev.Payment, &p); err != nil {
			t.Fatalf("payment of %s: %v (%s)", ev.ID, err, ev.Payment)
		}
	}
	return p
}
