// Package agenttest starts a real agent for the tests of the packages
// around it (the status page, the drop folder): a real SQLite file in a temp
// dir, a free loopback port and real provider simulators over HTTP. The
// agent package's own tests cannot import it (import cycle) and keep their
// own runAgent.
package agenttest

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// Run runs a real agent for cfg and opts on a temp data dir and a free
// loopback port until the test ends, and returns its WebSocket URL once it
// listens.
func Run(t testing.TB, cfg *config.Config, opts agent.Options) string {
	t.Helper()
	url, _ := RunIn(t, cfg, opts, t.TempDir())
	return url
}

// RunIn is Run on a data directory of the test's choosing, so a second
// agent finds what the first stored; stop ends the agent and waits for
// it, and may be called before the test ends (later calls do nothing).
// The test fails, never hangs: both waits have deadlines, and if Run ends
// before listening the cleanup does not wait on it again.
func RunIn(t testing.TB, cfg *config.Config, opts agent.Options, dataDir string) (url string, stop func()) {
	t.Helper()
	cfg.Agent.DataDir = dataDir
	cfg.Agent.Listen = "127.0.0.1:0"
	ready := make(chan string, 1)
	opts.Ready = func(u string) { ready <- u }
	a, err := agent.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		cancel()
		if stopped {
			return
		}
		stopped = true
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
	select {
	case u := <-ready:
		return u, stop
	case err := <-done:
		stopped = true
		t.Fatalf("agent stopped before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not listen")
	}
	return "", stop
}

// IyzicoOnly points cfg (the demo config) at an iyzico simulator of the
// test's own, serving the demo's credentials and devices, and drops the
// demo's Paywall and Vomsis parts so the test's simulator is the only
// provider. opts carries the test's faults and timings.
func IyzicoOnly(t testing.TB, cfg *config.Config, opts iyzicosim.Options) *iyzicosim.Server {
	t.Helper()
	opts.ClientID, opts.ClientSecret = cfg.Iyzico.ClientID, cfg.Iyzico.ClientSecret
	opts.Username, opts.Password = cfg.Iyzico.Username, cfg.Iyzico.Password
	opts.Devices = []string{"P00134", "P00135"}
	sim := iyzicosim.New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	cfg.Iyzico.BaseURL = ts.URL
	cfg.Paywall, cfg.Vomsis = nil, nil
	cfg.Terminals = slices.DeleteFunc(cfg.Terminals, func(t config.Terminal) bool { return t.Provider != "iyzico" })
	return sim
}
