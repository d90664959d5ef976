package agent

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/paywall"
	"github.com/tezgah/tezgah/bridge/paywall/paywallsim"
	"github.com/tezgah/tezgah/outbox"
)

// newPaywall builds the Paywall adapter from the [paywall] table.
func newPaywall(c *config.Paywall, now func() time.Time) (*paywall.Client, error) {
	var statuses map[int]paywall.Outcome
	if len(c.Statuses) > 0 {
		// The configured table completes the defaults: an account whose ids
		// differ overrides them one by one.
		statuses = paywall.DefaultStatuses()
		for k, v := range c.Statuses {
			n, err := config.PaywallStatus(k)
			if err != nil {
				return nil, err
			}
			statuses[n] = paywall.Outcome(v)
		}
	}
	customers := map[string]int{}
	for k, v := range c.CustomerTypeIDs {
		customers[k] = v
	}
	return paywall.NewClient(paywall.Config{
		BaseURL: c.BaseURL, APIKey: c.APIKey, APIClient: c.APIClient,
		CurrencyIDs: c.CurrencyIDs, UnitCodeIDs: c.UnitCodeIDs, DefaultUnitID: c.DefaultUnitID,
		CustomerTypeIDs: customers, MethodIDs: c.PaymentMethodIDs, Statuses: statuses,
		DefaultTaxRate: c.DefaultVATRate, ProductName: c.ProductName,
		ReceiptTop: c.ReceiptTop, ReceiptBottom: c.ReceiptBottom, ReceiptFontSize: c.ReceiptFontSize,
		SkipPrintCustomer: c.SkipPrintCustomer, SkipPrintMerchant: c.SkipPrintMerchant, SkipPaymentOptionScreen: c.SkipPaymentOptionScreen,
		NotifyDisconnected: c.NotifyDisconnected,
		PollInterval:       c.PollInterval.Duration, SaleWait: c.SaleWait.Duration, Timeout: c.Timeout.Duration,
		Now: now,
	})
}

// startPaywallSim serves paywallsim on loopback for the demo's Paywall
// terminals and points [paywall] at it.
func (a *Agent) startPaywallSim(ctx context.Context, serve func(h http.Handler) (string, error)) error {
	c := a.cfg.Paywall
	if c == nil {
		return nil
	}
	var ids []string
	for _, t := range a.cfg.Terminals {
		if t.Provider == "paywall" {
			ids = append(ids, t.DeviceID)
		}
	}
	sort.Strings(ids)
	sim := paywallsim.New(paywallsim.Options{APIKey: c.APIKey, APIClient: c.APIClient, Terminals: ids})
	// The customer takes a moment with the card, as on a real terminal.
	sim.SetFaults(paywallsim.Faults{CardTime: 2 * time.Second})
	base, err := serve(sim)
	if err != nil {
		return err
	}
	c.BaseURL = base
	a.log.Info("demo: paywall simulator running", "url", c.BaseURL)
	return nil
}

// withdrawer is implemented by adapters that can take back a request the
// provider has but the terminal has not picked up (Paywall's rollback).
type withdrawer interface {
	Withdraw(ctx context.Context, r bridge.Request) error
}

// withdraw handles a cancel of a request already sent: where the adapter
// can take it back from a terminal that has not picked it up (Paywall sync
// rollback), it does, and the request then finishes with the provider's
// real answer (not approved). Otherwise, or if the terminal already has
// it, the cancel is refused with notCancellable.
func (a *Agent) withdraw(ctx context.Context, register, id string, notCancellable error) (outbox.Event, error) {
	r, ev, err := a.store.Get(ctx, register, id)
	if err != nil || r.State.Final() || r.ProviderRef == "" {
		return outbox.Event{}, notCancellable
	}
	a.mu.RLock()
	t := a.terminals[r.Terminal]
	w, ok := a.provs[t.Provider].(withdrawer)
	a.mu.RUnlock()
	if !ok {
		return outbox.Event{}, notCancellable
	}
	req := bridge.Request{ID: protocol.QualifiedID(r.Register, r.ID), Op: bridge.Op(r.Op), Terminal: t, Reference: r.Reference, ProviderRef: r.ProviderRef}
	if err := w.Withdraw(ctx, req); err != nil {
		a.log.Info("cancel: could not withdraw from the terminal", "id", id, "terminal", t.Name, "err", err)
		return outbox.Event{}, notCancellable
	}
	a.log.Info("cancel: withdrawn from the terminal before it was picked up", "id", id, "terminal", t.Name)
	a.disp.Wake(r.Terminal)
	return ev, nil
}
