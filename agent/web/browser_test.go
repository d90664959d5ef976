package web_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/testbin"
)

// chromium finds Debian's chromium (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	if p, ok := testbin.Chromium(); ok {
		return p
	}
	t.Skip("no chromium on this machine (apt-get install -y chromium); .ci/run installs it so CI runs this test")
	return ""
}

// browser starts a headless chromium with a fresh profile and collects
// console errors, uncaught exceptions and browser-log errors (failed
// loads, CSP violations) from the page it shows.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	// Console starts the browser; its messages are read until the
	// context ends, by a goroutine the cleanup waits for.
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errors = append(b.errors, string(m.Type)+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); <-done })
	return b
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// waitFor polls the DOM until the JavaScript expression is true, for at
// most within. It returns how long that took.
func (b *browser) waitFor(t *testing.T, what, expr string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(within)))
	if err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("page did not show %s within %v: %v\npage text:\n%s", what, within, err, page)
	}
	return time.Since(start)
}

func TestStatusPageInBrowser(t *testing.T) {
	b := newBrowser(t)
	d := startDemo(t)

	if err := chromedp.Do(b.ctx, chromedp.Navigate(d.base+"/")); err != nil {
		t.Fatal(err)
	}
	// The first snapshot lists the demo terminals and their provider.
	b.waitFor(t, "the demo terminals",
		`document.querySelector('#terminals tr[data-terminal="kasa-1"]') !== null &&
		 document.querySelector('#terminals tr[data-terminal="kasa-2"]') !== null &&
		 document.querySelector('#providers tr[data-provider="iyzico"]') !== null &&
		 document.getElementById('live').classList.contains('ok')`, 10*time.Second)

	// A sale over a real WebSocket shows on the page within a second of
	// the register getting its result.
	reg := d.dial(t)
	ev := reg.sale("B-0001", "kasa-1", "150.00")
	if ev.Status != "approved" {
		t.Fatalf("sale: %+v", ev)
	}
	took := b.waitFor(t, "the sale's result",
		`(() => { const r = document.querySelector('#recent tr[data-id="B-0001"]');
		  return r !== null && r.dataset.state === 'approved' && r.textContent.includes('150.00') &&
		    document.querySelector('#terminals tr[data-terminal="kasa-1"] .last-result').textContent.includes('B-0001'); })()`,
		time.Second)
	t.Logf("result on the page %v after the register had it", took)

	// A provider never called (Paywall here) is idle: neutral, not the
	// green of one that answers.
	b.waitFor(t, "idle and ok providers in different colours",
		`(() => { const idle = document.querySelector('#providers .pill.idle'), ok = document.querySelector('#providers .pill.ok');
		  return idle && ok && getComputedStyle(idle).backgroundColor !== getComputedStyle(ok).backgroundColor; })()`,
		10*time.Second)

	// The register shows as connected, with its last command.
	b.waitFor(t, "the connected register",
		`(() => { const r = document.querySelector('#registers tr[data-register="local"]');
		  return r !== null && r.textContent.includes('127.0.0.1') && r.textContent.includes('sale B-0001'); })()`,
		10*time.Second)

	// Turkish reads as Turkish, and the choice sticks across a reload.
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`button[data-lang="tr"]`))); err != nil {
		t.Fatal(err)
	}
	heading, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(`section h2[data-i18n="terminals"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if heading != "Terminaller" {
		t.Errorf("Turkish heading = %q, want Terminaller", heading)
	}
	// Durations in Turkish units too ("1 dk 50 sn", never "1m 50s").
	b.waitFor(t, "Turkish uptime",
		`/çalışma süresi \d+( g| sa| dk)?( \d+)? ?(sa|dk|sn)/.test(document.getElementById('agent').textContent)`,
		10*time.Second)
	if err := chromedp.Do(b.ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "Turkish after reload",
		`document.documentElement.lang === 'tr' && document.querySelector('#recent tr[data-id="B-0001"] .pill')?.textContent === 'onaylandı'`,
		10*time.Second)

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestStatusPageScreenshot saves the picture in docs/operations.md: a
// few sales, then a provider that stops answering, so the page shows an
// unknown outcome and a queued request too. It runs only when asked:
//
//	TEZGAH_SCREENSHOT=$PWD/docs/img/status-page.png go test -run TestStatusPageScreenshot ./agent/web/
func TestStatusPageScreenshot(t *testing.T) {
	path := os.Getenv("TEZGAH_SCREENSHOT")
	if path == "" {
		t.Skip("set TEZGAH_SCREENSHOT to the PNG file to write")
	}
	b := newBrowser(t)
	d, sim := simAgent(t, iyzicosim.Options{}, 300*time.Millisecond)
	reg := d.dial(t)
	for i, amount := range []string{"150.00", "42.50", "1299.90", "18.00"} {
		reg.sale(fmt.Sprintf("R1-%06d", 120+i), []string{"kasa-1", "kasa-2"}[i%2], amount)
	}
	sim.SetFaults(iyzicosim.Faults{Hang: true})
	reg.send(map[string]string{"type": "sale", "id": "R1-000124", "terminal": "kasa-1", "amount": "89.90"})
	reg.until("accepted", "R1-000124")
	reg.send(map[string]string{"type": "sale", "id": "R1-000125", "terminal": "kasa-1", "amount": "12.00"})
	reg.until("accepted", "R1-000125")
	if err := chromedp.Do(b.ctx, chromedp.Navigate(d.base+"/")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`button[data-lang="en"]`))); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "an unknown outcome and a queued sale",
		`document.querySelector('#unknown tr[data-id="R1-000124"]') !== null &&
		 document.querySelector('#queued tr[data-id="R1-000125"]') !== null &&
		 document.querySelector('#providers .pill.failing') !== null`, 15*time.Second)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(iyzicosim.Faults{}) // let the agent stop without waiting on hung calls
}
