package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/cardvault"
	"github.com/tezgah/tezgah/bridge/vomsis"
	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
)

// Card-not-present sales (Vomsis). The card travels register → memory →
// provider, never to disk: the outbox stores the sale without it
// (protocol.Command.Canonical), the vault holds it until the worker's one
// attempt, and the 3-D Secure page Vomsis answers with (which repeats the
// card to the bank) is served from memory on this agent's listener.

// vomsisProvider builds the Vomsis adapter with the agent's card vault
// and 3-D Secure page server.
func (a *Agent) vomsisProvider() (*vomsis.Client, error) {
	c := a.cfg.Vomsis
	// A reload builds a new client around the running agent's vault and
	// pages: the cards held and the pages served must outlive it.
	if a.cards == nil {
		a.cards = cardvault.New()
	}
	if a.pages == nil {
		store := a.store
		a.pages = vomsis.NewPages(func(ctx context.Context, id, url string) error {
			register, id := protocol.SplitQualifiedID(id) // dispatch qualified it
			_, err := store.Wait(ctx, register, id, url)
			return err
		}, a.log)
	}
	client, err := vomsis.NewClient(vomsis.Config{
		BaseURL: c.BaseURL, AppKey: c.AppKey, AppSecret: c.AppSecret, Lang: c.Lang, ClientIP: c.ClientIP,
		ThreeDSTimeout: c.ThreeDSTimeout.Duration, Timeout: c.Timeout.Duration, Now: a.opts.Now,
		Cards: a.cards, Pages: a.pages,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: vomsis: %w", err)
	}
	return client, nil
}

// servePages mounts the 3-D Secure pages on the agent's listener, behind
// the same Host check as the WebSocket (DNS rebinding), and tells them
// the URL the payer's browser reaches them at.
func (a *Agent) servePages(mux *http.ServeMux, addr net.Addr) error {
	if a.pages == nil {
		return nil
	}
	base := a.cfg.Vomsis.PageURL
	if base == "" {
		host, port, _ := net.SplitHostPort(addr.String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	if err := a.pages.SetBaseURL(base); err != nil {
		return fmt.Errorf("agent: vomsis.page_url: %w", err)
	}
	mux.Handle(vomsis.PagePrefix, a.hostChecked(a.pages))
	return nil
}

// hostChecked refuses requests whose Host is not an IP literal,
// localhost or a configured name, like the WebSocket server does.
func (a *Agent) hostChecked(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
		ok := net.ParseIP(host) != nil || strings.EqualFold(host, "localhost")
		for _, allowed := range a.cfg.Agent.AllowedHosts {
			ok = ok || strings.EqualFold(allowed, host)
		}
		if !ok {
			a.log.Warn("refused 3-D Secure page request: Host not allowed", "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, "host not allowed", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkCard requires card data exactly where the terminal's provider
// takes it: a card sent to any other terminal is refused, never stored.
func (a *Agent) checkCard(c protocol.Command) error {
	t := a.terminals[c.Terminal]
	cp, ok := a.provs[t.Provider].(bridge.CardPayer)
	needs := ok && cp.NeedsCard(bridge.Op(c.Type))
	switch {
	case needs && c.Card == nil:
		return protocol.Errorf(protocol.CodeMissingField, "card", "%s is a card-not-present terminal: a sale needs card {number, expiry_month, expiry_year, cvc, holder}", t.Name)
	case !needs && c.Card != nil:
		return protocol.Errorf(protocol.CodeInvalidField, "card", "%s does not take card data; nothing was stored. Never send card data to it", t.Name)
	}
	return nil
}

// holdCard puts a sale's card in the vault before the sale is stored, so
// the worker woken by the commit finds it. It returns a function to call
// with the outcome of storing: the card is dropped if the sale was not
// stored, or was an earlier sale sent again (whose own card was used).
func (a *Agent) holdCard(c protocol.Command, ttl time.Duration) func(stored bool) {
	if c.Card == nil || a.cards == nil {
		return func(bool) {}
	}
	key := protocol.QualifiedID(c.Register, c.ID) // as dispatch names the request to the adapter
	put := a.cards.Put(key, *c.Card, ttl)
	return func(stored bool) {
		if put && !stored {
			a.cards.Drop(key)
		}
	}
}

// closeCards forgets every card at shutdown.
func (a *Agent) closeCards() {
	if a.cards != nil {
		a.cards.Close()
	}
}

// startVomsisSim serves vomsissim on ln for the demo and points the
// config at it.
func (a *Agent) startVomsisSim(ctx context.Context, serve func(h http.Handler) (string, error)) error {
	if a.cfg.Vomsis == nil {
		return nil
	}
	sim := vomsissim.New(vomsissim.Options{AppKey: a.cfg.Vomsis.AppKey, AppSecret: a.cfg.Vomsis.AppSecret})
	base, err := serve(sim)
	if err != nil {
		return err
	}
	a.cfg.Vomsis.BaseURL = base + vomsissim.APIPrefix
	a.log.Info("demo: vomsis simulator running", "url", a.cfg.Vomsis.BaseURL)
	return nil
}
