package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/iyzico"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// providers builds one adapter per provider table in the config.
func (a *Agent) providers() (map[string]bridge.Provider, error) {
	out := map[string]bridge.Provider{}
	if c := a.cfg.Iyzico; c != nil {
		version := c.SaleAppVersion
		if version == "" {
			version = a.opts.Version
		}
		client, err := iyzico.NewClient(iyzico.Config{
			BaseURL:        c.BaseURL,
			ClientID:       c.ClientID,
			ClientSecret:   c.ClientSecret,
			Username:       c.Username,
			Password:       c.Password,
			Locale:         c.Locale,
			SaleAppName:    c.SaleAppName,
			SaleAppVersion: version,
			TaxGroupCode:   c.TaxGroupCode,
			TaxGroups:      taxGroups(c.TaxGroups),
			UnitCode:       c.UnitCode,
			Timeout:        c.Timeout.Duration,
			Now:            a.opts.Now,
		})
		if err != nil {
			return nil, fmt.Errorf("agent: iyzico: %w", err)
		}
		out["iyzico"] = client
	}
	if c := a.cfg.Paywall; c != nil {
		client, err := newPaywall(c, a.opts.Now)
		if err != nil {
			return nil, fmt.Errorf("agent: paywall: %w", err)
		}
		out["paywall"] = client
	}
	if a.cfg.Vomsis != nil {
		client, err := a.vomsisProvider()
		if err != nil {
			return nil, err
		}
		out["vomsis"] = client
	}
	return out, nil
}

// taxGroups converts iyzico.tax_groups (checked by config.Validate).
func taxGroups(m map[string]string) map[int]string {
	out := make(map[int]string, len(m))
	for k, v := range m {
		if n, err := config.TaxRate(k); err == nil {
			out[n] = v
		}
	}
	return out
}

// startSimulators serves the provider simulators on loopback and points
// the config at them: the demo runs the real adapters against real HTTP
// servers speaking each provider's wire format.
func (a *Agent) startSimulators(ctx context.Context, wg *sync.WaitGroup) error {
	serve := func(h http.Handler) (string, error) { return a.serveSim(ctx, wg, h) }
	if err := a.startPaywallSim(ctx, serve); err != nil {
		return err
	}
	if err := a.startVomsisSim(ctx, serve); err != nil {
		return err
	}
	if a.cfg.Iyzico == nil {
		return nil
	}
	var devices []string
	for _, t := range a.cfg.Terminals {
		if t.Provider == "iyzico" {
			devices = append(devices, t.DeviceID)
		}
	}
	sim := iyzicosim.New(iyzicosim.Options{
		ClientID:     a.cfg.Iyzico.ClientID,
		ClientSecret: a.cfg.Iyzico.ClientSecret,
		Username:     a.cfg.Iyzico.Username,
		Password:     a.cfg.Iyzico.Password,
		Devices:      devices,
	})
	base, err := serve(sim)
	if err != nil {
		return err
	}
	a.cfg.Iyzico.BaseURL = base
	a.log.Info("demo: iyzico simulator running", "url", a.cfg.Iyzico.BaseURL)
	return nil
}

// serveSim serves a demo simulator on a free loopback port until ctx is
// done and returns its base URL.
func (a *Agent) serveSim(ctx context.Context, wg *sync.WaitGroup, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("agent: demo simulator: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("demo simulator stopped", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { srv.Close() })
	return "http://" + ln.Addr().String(), nil
}
