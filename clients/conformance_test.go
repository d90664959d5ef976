// Package clients_test runs the client kit's one conformance scenario
// (clients/README.md) against a real agent for every language whose
// toolchain is here: it builds tezgah, serves the provider simulators
// itself (so the provider keeps its records while the agent is killed),
// runs each language's conformance program one step per process, and
// plays the payer on the fake bank page and the power cut on the agent
// when the program asks for them.
//
// A missing toolchain skips its language, or fails it when CI=true.
package clients_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/syncbuf"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/bridge/paywall/paywallsim"
	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
	"github.com/tezgah/tezgah/internal/testbin"
)

// stepTimeout bounds one step's process; generous, the machine is shared.
const stepTimeout = 120 * time.Second

// steps are the scenario's steps, in the order every language runs them.
var steps = []string{"sale_refund_void_query_eod", "paywall_sale", "vomsis_3ds", "kill_restart", "same_id", "two_registers", "busy"}

// lang is one client library: how to get its program ready and run it.
type lang struct {
	name  string
	tools []string // needed on PATH
	// prepare builds the program (in dir = clients/<name>) and returns the
	// command and working directory of one step; skip != "" means the
	// folder is not in this tree.
	prepare func(t *testing.T, dir string) (cmd []string, wd string, skip string)
	http    bool // speaks the HTTP door: its URL is http://host:port
}

var langs = []lang{
	{name: "python", prepare: preparePython},
	{name: "js", tools: []string{"node", "npm"}, prepare: prepareJS},
	{name: "csharp", tools: []string{"mcs", "mono"}, prepare: buildSh("bin/Conformance.exe", "mono", "bin/Conformance.exe")},
	{name: "java", tools: []string{"javac", "java"}, prepare: buildSh("build/Conformance.class", "java", "-cp", "build", "Conformance")},
	{name: "pascal", tools: []string{"fpc"}, prepare: buildSh("bin/conformance", "bin/conformance"), http: true},
}

func TestConformance(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the conformance runner SIGKILLs the agent: Unix only")
	}
	if testing.Short() {
		t.Skip("-short: the client conformance scenario runs real agents and toolchains")
	}
	bin := buildAgent(t)
	w := startWorld(t, bin)
	// Builds run side by side; the steps one language at a time, as
	// kill_restart cuts the power of the agent every language uses and
	// busy needs agent B's one terminal to itself.
	var turn sync.Mutex
	for _, l := range langs {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			for _, tool := range l.tools {
				if _, err := exec.LookPath(tool); err != nil {
					missing(t, fmt.Sprintf("conformance %s: skipped, %s not installed", l.name, tool))
				}
			}
			dir, _ := filepath.Abs(l.name)
			cmd, wd, skip := l.prepare(t, dir)
			if skip != "" {
				fmt.Printf("conformance %s: skipped, %s\n", l.name, skip)
				t.Skip(skip)
			}
			turn.Lock()
			defer turn.Unlock()
			w.runLanguage(t, l, cmd, wd)
		})
	}
}

// missing skips (or in CI fails) a language whose toolchain is absent.
func missing(t *testing.T, msg string) {
	t.Helper()
	fmt.Println(msg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: every toolchain must be installed)")
	}
	t.Skip(msg)
}

// python finds the first interpreter that can import websocket: Debian's
// /usr/bin/python3 has python3-websocket, a pyenv python3 first on PATH
// may not.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import sys, websocket; assert sys.version_info >= (3, 11)").Run() == nil {
			return p
		}
	}
	missing(t, "conformance python: skipped, no python3 >= 3.11 with websocket-client (apt-get install python3-websocket)")
	return ""
}

func preparePython(t *testing.T, dir string) ([]string, string, string) {
	return []string{python(t), "conformance.py"}, dir, ""
}

// prepareJS installs the locked dependencies into a copy (the tree stays
// clean), type-checks tezgah.d.ts against its use and runs the module's
// unit tests.
func prepareJS(t *testing.T, dir string) ([]string, string, string) {
	wd := filepath.Join(t.TempDir(), "js")
	copyTree(t, dir, wd)
	npmCI(t, wd)
	run(t, wd, "node_modules/.bin/tsc", "-p", ".")
	run(t, wd, "node", "--test", "test/")
	return []string{"node", "conformance.mjs"}, wd, ""
}

// npmCI installs clients/js's locked dependencies (ws; typescript for the
// type check). Without the npm registry or its cache that is a skip, or a
// failure when CI=true.
func npmCI(t *testing.T, wd string, flags ...string) {
	t.Helper()
	c := exec.Command("npm", append([]string{"ci", "--no-audit", "--no-fund", "--prefer-offline"}, flags...)...)
	c.Dir = wd
	if out, err := c.CombinedOutput(); err != nil {
		missing(t, fmt.Sprintf("js: skipped, npm ci failed (no registry or cache?): %v\n%s", err, out))
	}
}

// buildSh is h17b's shape: `build.sh test` in clients/<lang> builds into
// the folder and runs the library's offline tests; exe must exist
// afterwards; cmd runs one step there.
func buildSh(exe string, cmd ...string) func(t *testing.T, dir string) ([]string, string, string) {
	return func(t *testing.T, dir string) ([]string, string, string) {
		if _, err := os.Stat(filepath.Join(dir, "build.sh")); err != nil {
			return nil, "", "clients/" + filepath.Base(dir) + "/build.sh is not in this tree"
		}
		run(t, dir, "sh", "build.sh", "test")
		if _, err := os.Stat(filepath.Join(dir, exe)); err != nil {
			t.Fatalf("build.sh did not produce %s", exe)
		}
		return cmd, dir, ""
	}
}

func run(t *testing.T, wd string, name string, args ...string) {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = wd
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), wd, err, out)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// buildAgent compiles cmd/tezgah once per test binary.
func buildAgent(t *testing.T) string {
	t.Helper()
	return testbin.Build(t, "../cmd/tezgah")
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// world is what every language runs against: the simulators, agent A
// (the demo's terminals) and agent B (busy on demand).
type world struct {
	iyzico *iyzicosim.Server
	a, b   *agent
	page   *httptest.Server // serves clients/js to a browser; its origin is allowed on agent A
}

func startWorld(t *testing.T, bin string) *world {
	iz := iyzicosim.New(iyzicosim.Options{ClientID: iyzicosim.DemoClientID, ClientSecret: iyzicosim.DemoClientSecret,
		Username: iyzicosim.DemoUsername, Password: iyzicosim.DemoPassword, Devices: []string{"P00134", "P00135"}})
	pw := paywallsim.New(paywallsim.Options{APIKey: paywallsim.DemoAPIKey, APIClient: paywallsim.DemoAPIClient,
		Terminals: []string{paywallsim.DemoTerminal}})
	vs := vomsissim.New(vomsissim.Options{AppKey: vomsissim.DemoAppKey, AppSecret: vomsissim.DemoAppSecret})
	mux := http.NewServeMux() // the layout of cmd/tezgah-sim
	mux.Handle("/paywall/", http.StripPrefix("/paywall", pw))
	mux.Handle(vomsissim.APIPrefix+"/", vs)
	mux.Handle(vomsissim.AdminPrefix+"/", vs)
	mux.Handle("/", iz)
	sim := httptest.NewServer(mux)
	t.Cleanup(sim.Close)

	// The demo's terminals (agent/config.Demo) on simulators that outlive the agent.
	page := httptest.NewServer(pageHandler())
	t.Cleanup(page.Close)
	cfgA := fmt.Sprintf(`[agent]
listen = "127.0.0.1:0"
allowed_origins = [%q]

[iyzico]
base_url = %q
client_id = %q
client_secret = %q
username = %q
password = %q
tax_group_code = "KDV20"

[paywall]
base_url = "%s/paywall"
api_key = %q
api_client = %q

[vomsis]
base_url = "%s%s"
app_key = %q
app_secret = %q

[[terminal]]
name = "kasa-1"
provider = "iyzico"
device_id = "P00134"
model = "vuk507"

[[terminal]]
name = "kasa-2"
provider = "iyzico"
device_id = "P00135"
model = "vuk507"

[[terminal]]
name = "kasa-3"
provider = "paywall"
device_id = %q
mode = "async"

[[terminal]]
name = "vpos-1"
provider = "vomsis"
`, page.URL, sim.URL, iyzicosim.DemoClientID, iyzicosim.DemoClientSecret, iyzicosim.DemoUsername, iyzicosim.DemoPassword,
		sim.URL, paywallsim.DemoAPIKey, paywallsim.DemoAPIClient, sim.URL, vomsissim.APIPrefix,
		vomsissim.DemoAppKey, vomsissim.DemoAppSecret, paywallsim.DemoTerminal)
	// NOTES-16a's deterministic busy: iyzico unreachable (nothing may
	// listen on port 9 without root), one pending request per terminal.
	cfgB := `[agent]
listen = "127.0.0.1:0"
max_queued_per_terminal = 1
sale_timeout = "2s"

[iyzico]
base_url = "http://127.0.0.1:9"
client_id = "x"
client_secret = "x"
username = "x"
password = "x"

[[terminal]]
name = "kasa-1"
provider = "iyzico"
device_id = "DEV1"
model = "vuk507"
`
	return &world{iyzico: iz, a: startAgent(t, bin, "A", cfgA), b: startAgent(t, bin, "B", cfgB), page: page}
}

// agent is one tezgah process, restartable on the same port and data dir.
type agent struct {
	t          *testing.T
	bin, name  string
	cfg, data  string
	addr       string // host:port, fixed after the first start
	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	log        *syncbuf.Buffer
	restarts   int
	listenLine *regexp.Regexp
}

func startAgent(t *testing.T, bin, name, cfg string) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{t: t, bin: bin, name: name, cfg: filepath.Join(dir, "tezgah.toml"), data: filepath.Join(dir, "data"),
		addr: "127.0.0.1:0", log: &syncbuf.Buffer{}, listenLine: regexp.MustCompile(`listening on ws://(\S+)/v1/ws`)}
	if err := os.WriteFile(a.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.kill)
	return a
}

func (a *agent) start() error {
	cmd := exec.Command(a.bin, "run", "--config", a.cfg, "--data-dir", a.data, "--listen", a.addr)
	cmd.Stderr = a.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(a.log, sc.Text())
			if m := a.listenLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { cmd.Wait(); close(exited) }()
	a.mu.Lock()
	a.cmd, a.exited = cmd, exited
	a.mu.Unlock()
	select {
	case a.addr = <-found:
		return nil
	case <-exited:
		return fmt.Errorf("agent %s exited before it listened:\n%s", a.name, a.log)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("agent %s did not listen within 60s:\n%s", a.name, a.log)
	}
}

// kill is a power cut: SIGKILL, no shutdown.
func (a *agent) kill() {
	a.mu.Lock()
	cmd, exited := a.cmd, a.exited
	a.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-exited
	}
}

// restart kills the agent and starts it again on the same port and data.
func (a *agent) restart() error {
	a.kill()
	a.restarts++
	fmt.Fprintf(a.log, "--- runner: SIGKILL and restart %d\n", a.restarts)
	return a.start()
}

func (a *agent) wsURL() string   { return "ws://" + a.addr + "/v1/ws" }
func (a *agent) httpURL() string { return "http://" + a.addr }

func (a *agent) url(l lang) string {
	if l.http {
		return a.httpURL()
	}
	return a.wsURL()
}

// stepRun is what one step's process said.
type stepRun struct {
	ok    bool
	extra string // after "OK <step> "
	why   string
}

// step runs one step's process and answers its requests meanwhile:
// ACTION (the payer completes the bank page), INFLIGHT (power cut and
// restart of agent A), BUSY (react(...) decides).
func (w *world) step(t *testing.T, cmd []string, wd string, args []string, onBusy func()) stepRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], append(append([]string(nil), cmd[1:]...), args...)...)
	c.Dir = wd
	var stderr syncbuf.Buffer
	c.Stderr = &stderr
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		return stepRun{why: err.Error()}
	}
	var last string
	var problems []string
	busySeen, actionSeen, killed := false, false, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		t.Logf("  %s", line)
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "OK" || f[0] == "FAIL":
			last = line
		case f[0] == "ACTION" && len(f) == 2 && !actionSeen:
			actionSeen = true
			// The payer's browser: open the page, approve at the fake bank.
			if status, err := vomsissim.Browse(&http.Client{Timeout: 30 * time.Second}, f[1], true); err != nil {
				problems = append(problems, fmt.Sprintf("bank page %s: HTTP %d: %v", f[1], status, err))
			}
		case f[0] == "INFLIGHT" && !killed:
			killed = true
			if err := w.a.restart(); err != nil {
				problems = append(problems, err.Error())
			}
		case f[0] == "BUSY":
			if !busySeen && onBusy != nil {
				busySeen = true
				onBusy()
			}
		}
	}
	err = c.Wait()
	r := stepRun{}
	switch {
	case ctx.Err() != nil:
		r.why = fmt.Sprintf("no answer within %v (killed)", stepTimeout)
	case strings.HasPrefix(last, "OK ") && err == nil:
		r.ok = true
		if f := strings.SplitN(last, " ", 3); len(f) == 3 {
			r.extra = f[2]
		}
	case last != "":
		r.why = last
	default:
		r.why = fmt.Sprintf("exit %v, no OK/FAIL line; stderr: %s", err, strings.TrimSpace(stderr.String()))
	}
	if len(problems) > 0 {
		r.ok = false
		r.why = strings.TrimSpace(r.why + " " + strings.Join(problems, "; "))
	}
	if !r.ok && stderr.String() != "" {
		t.Logf("  stderr: %s", stderr.String())
	}
	return r
}

func (w *world) runLanguage(t *testing.T, l lang, cmd []string, wd string) {
	reg := "conf-" + l.name
	cursor := filepath.Join(t.TempDir(), "cursor")
	base := func(url, register, cursorFile, step string) []string {
		return []string{"--url", url, "--register", register, "--cursor", cursorFile, "--step", step}
	}
	passed := 0
	var failed []string
	for _, s := range steps {
		var r stepRun
		began := time.Now()
		switch s {
		case "kill_restart":
			r = w.killRestart(t, l, cmd, wd, base(w.a.url(l), reg, cursor, s))
		case "two_registers":
			r = w.twoRegisters(t, l, cmd, wd, reg)
		case "busy":
			r = w.busy(t, l, cmd, wd, append(base(w.b.url(l), reg, filepath.Join(t.TempDir(), "cursor-b"), s),
				"--id", "BUSY-"+l.name, "--terminal", "kasa-1", "--amount", "1.00"))
		default:
			args := base(w.a.url(l), reg, cursor, s)
			if s == "vomsis_3ds" || s == "same_id" {
				args = append(args, "--id", strings.ToUpper(s)+"-"+l.name)
			}
			r = w.step(t, cmd, wd, args, nil)
		}
		if r.ok {
			passed++
			t.Logf("%s: ok %s (%v)", s, r.extra, time.Since(began).Round(time.Millisecond))
		} else {
			failed = append(failed, s)
			t.Errorf("%s: %s", s, r.why)
		}
	}
	summary := fmt.Sprintf("conformance %s: %d/%d ok", l.name, passed, len(steps))
	if len(failed) > 0 {
		summary += " (failed: " + strings.Join(failed, ", ") + ")"
	}
	fmt.Println(summary)
	if t.Failed() {
		t.Logf("agent A log:\n%s\nagent B log:\n%s", tail(w.a.log.String()), tail(w.b.log.String()))
	}
}

func tail(s string) string {
	if len(s) > 6000 {
		return "…" + s[len(s)-6000:]
	}
	return s
}

// killRestart holds iyzico payments for 2 s so the SIGKILL lands while
// the sale is at the provider, then checks the provider charged it once.
func (w *world) killRestart(t *testing.T, l lang, cmd []string, wd string, args []string) stepRun {
	before := len(w.iyzico.Ledger())
	w.iyzico.SetFaults(iyzicosim.Faults{Latency: 2 * time.Second})
	defer w.iyzico.SetFaults(iyzicosim.Faults{})
	restarts := w.a.restarts
	r := w.step(t, cmd, wd, append(args, "--id", "KILL-"+l.name), nil)
	if !r.ok {
		return r
	}
	if w.a.restarts == restarts {
		return stepRun{why: "the program never printed INFLIGHT"}
	}
	var sales []iyzicosim.Entry
	for _, e := range w.iyzico.Ledger()[before:] {
		if e.Op == "sale" {
			sales = append(sales, e)
		}
	}
	if r.extra == "approved" && len(sales) != 1 {
		return stepRun{why: fmt.Sprintf("the provider charged %d times: %+v", len(sales), sales)}
	}
	return r
}

// twoRegisters runs the same id from two registers: two requests, two payments.
func (w *world) twoRegisters(t *testing.T, l lang, cmd []string, wd, reg string) stepRun {
	var ids []string
	for _, suffix := range []string{"-A", "-B"} {
		args := []string{"--url", w.a.url(l), "--register", reg + suffix, "--cursor", filepath.Join(t.TempDir(), "cursor"),
			"--step", "two_registers", "--id", "R1-1"}
		r := w.step(t, cmd, wd, args, nil)
		if !r.ok {
			return stepRun{why: "register " + reg + suffix + ": " + r.why}
		}
		ids = append(ids, r.extra)
	}
	if ids[0] == "" || ids[0] == ids[1] {
		return stepRun{why: fmt.Sprintf("payment ids %q and %q: two registers' R1-1 must be two payments", ids[0], ids[1])}
	}
	return stepRun{ok: true, extra: strings.Join(ids, " ")}
}

// busy fills agent B's kasa-1 with an occupant the provider never takes,
// so the program's sale is refused busy; at its first BUSY line the
// occupant is cancelled and the program's retry is accepted.
func (w *world) busy(t *testing.T, l lang, cmd []string, wd string, args []string) stepRun {
	conn, _, err := websocket.DefaultDialer.Dial(w.b.wsURL(), nil)
	if err != nil {
		return stepRun{why: "runner: dial agent B: " + err.Error()}
	}
	defer conn.Close()
	events := make(chan map[string]any, 64)
	go func() {
		defer close(events)
		for {
			var ev map[string]any
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			events <- ev
		}
	}()
	occupant := "OCC-" + l.name
	send := func(v any) error {
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteJSON(v)
	}
	// An answer from the agent, within a deadline.
	await := func(what string, match func(map[string]any) bool) (map[string]any, error) {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return nil, fmt.Errorf("agent B closed the connection waiting for %s", what)
				}
				if match(ev) {
					return ev, nil
				}
			case <-deadline:
				return nil, fmt.Errorf("no %s from agent B within 30s", what)
			}
		}
	}
	if err := send(map[string]any{"type": "hello", "register": "conf-runner"}); err != nil {
		return stepRun{why: err.Error()}
	}
	if _, err := await("hello", func(ev map[string]any) bool { return ev["type"] == "hello" || ev["type"] == "error" }); err != nil {
		return stepRun{why: err.Error()}
	}
	if err := send(map[string]any{"type": "sale", "id": occupant, "terminal": "kasa-1", "amount": "1.00", "expires_in": 15}); err != nil {
		return stepRun{why: err.Error()}
	}
	ev, err := await("the occupant's accepted", func(ev map[string]any) bool { return ev["id"] == occupant })
	if err != nil {
		return stepRun{why: err.Error()}
	}
	if ev["type"] != "accepted" {
		b, _ := json.Marshal(ev)
		return stepRun{why: "runner: occupant sale not accepted: " + string(b)}
	}
	var cancelErr error
	r := w.step(t, cmd, wd, args, func() {
		// The agent tries the unreachable provider now and then; while
		// a try is under way the occupant is "sending" and not
		// cancellable. Then cancel again once it is back in "queued".
		for {
			if err := send(map[string]any{"type": "cancel", "id": occupant}); err != nil {
				cancelErr = err
				return
			}
			ev, err := await("the occupant's cancel", func(ev map[string]any) bool {
				return ev["id"] == occupant && (ev["type"] == "result" || ev["type"] == "error")
			})
			if err != nil {
				cancelErr = err
				return
			}
			if ev["type"] == "result" {
				if ev["status"] != "cancelled" { // expired by itself: the terminal is free all the same
					t.Logf("runner: occupant ended %v before the cancel", ev["status"])
				}
				return
			}
			if e, _ := ev["error"].(map[string]any); e == nil || e["code"] != "not_cancellable" {
				b, _ := json.Marshal(ev)
				cancelErr = fmt.Errorf("runner: cancel of the occupant answered %s", b)
				return
			}
			if _, err := await("the occupant back in queued", func(ev map[string]any) bool {
				return ev["id"] == occupant && (ev["type"] == "result" || ev["state"] == "queued")
			}); err != nil {
				cancelErr = err
				return
			}
		}
	})
	if cancelErr != nil {
		r.ok, r.why = false, strings.TrimSpace(r.why+" "+cancelErr.Error())
	}
	return r
}
