package clients_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tezgah/tezgah/internal/testbin"
)

// browserPage is a web register: tezgah.mjs in a page, with the browser's
// own WebSocket and the cursor in localStorage.
const browserPage = `<!doctype html><meta charset="utf-8"><title>web register</title>
<pre id="log"></pre>
<script type="module">
import { Client } from './tezgah.mjs';
const q = new URLSearchParams(location.search);
const log = (s) => { document.getElementById('log').textContent += s + '\n'; };
const c = new Client({ url: q.get('ws'), register: 'web-kasa', cursorStorage: localStorage,
  onState: (e) => log('state ' + e.id + ' ' + e.state), onConnection: (up) => log('connection ' + up) });
try {
  const sale = await c.sale('kasa-1', '10.00');
  log('sale ' + sale.status + ' ' + (sale.payment && sale.payment.authCode));
  const refund = await c.refund('kasa-1', sale.id, 1000n);
  log('refund ' + refund.status);
  log('cursor ' + localStorage.getItem('tezgah.cursor.web-kasa') + ' ' + c.cursor);
} catch (e) {
  log('error ' + e.message);
} finally {
  c.close();
  document.body.dataset.done = '1';
}
</script>`

func pageHandler() http.Handler {
	files := http.FileServer(http.Dir("js"))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/register.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(browserPage))
		case "/tezgah.mjs":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			files.ServeHTTP(w, r)
		case "/favicon.ico":
			w.WriteHeader(http.StatusNoContent) // else the browser logs a failed load
		default:
			http.NotFound(w, r)
		}
	})
}

// chromium finds Debian's chromium (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	if p, ok := testbin.Chromium(); ok {
		return p
	}
	missing(t, "browser register: skipped, no chromium (apt-get install chromium)")
	return ""
}

// TestJSInBrowser runs tezgah.mjs in headless chromium against agent A: the
// browser's WebSocket (with its Origin, allowed on the agent), no ws
// package, the cursor in localStorage.
func TestJSInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs a browser and a real agent")
	}
	path := chromium(t)
	w := startWorld(t, buildAgent(t))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-first-run", true), chromedp.UserDataDir(t.TempDir()))
	ctx, cancelCtx := chromedp.NewContext(actx)
	var mu sync.Mutex
	var errs []string
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				errs = append(errs, m.Text)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); <-done })

	if err := chromedp.Do(ctx, chromedp.Navigate(w.page.URL+"/register.html?ws="+w.a.wsURL())); err != nil {
		t.Fatal(err)
	}
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.dataset.done === '1'`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)))
	out, err2 := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#log")))
	if err2 != nil && err == nil {
		err = err2
	}
	t.Logf("page:\n%s", out)
	if err != nil {
		t.Fatalf("the page did not finish: %v", err)
	}
	for _, want := range []string{"connection true", "state web-kasa-", "sale approved 1000", "refund approved", "cursor "} {
		if !strings.Contains(out, want) {
			t.Errorf("the page never showed %q", want)
		}
	}
	if strings.Contains(out, "cursor null") || strings.Contains(out, "error ") {
		t.Errorf("page: %s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
