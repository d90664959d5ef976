// Command busy measures the agent as a black box with its workers busy:
// tezgah and tezgah-sim as their own processes, built from this checkout,
// and this program as the registers — many connections, each from its own
// loopback address, sending sales to iyzico terminals whose simulator
// answers at once, so every accepted sale is also carried to its result.
//
// Beside the agent it measures, in the same run, what the machine does
// without it: the same sale sent straight to the simulator by one worker
// per terminal (direct calls), a trivial WebSocket echo server paced like
// the registers, and one SQLite WAL+FULL commit. Ratios between those and
// the agent are what to compare across runs on a noisy machine.
//
// Linux only (distinct 127.0.0.x source addresses). Usage:
//
//	go run ./bench/busy                       # paced then closed loop
//	go run ./bench/busy -mode paced -conns 64 -rate 25 -duration 10s
//	go run ./bench/busy -mode closed -inflight 8
//
// docs/performance.md records its figures.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	_ "modernc.org/sqlite"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/bridge/iyzico"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/money"
)

type options struct {
	mode      string
	conns     int
	rate      float64
	inflight  int
	terminals int
	duration  time.Duration
	warmup    time.Duration
	pprof     string // directory for the agent's CPU profiles; "": none
	outage    int    // sales queued during an outage, then drained; 0: none
	burst     bool   // paced: all connections in step rather than spread out
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "both", "paced, closed or both")
	flag.IntVar(&o.conns, "conns", 64, "register connections, each from its own 127.0.0.x address")
	flag.Float64Var(&o.rate, "rate", 25, "paced: sales a second per connection")
	flag.IntVar(&o.inflight, "inflight", 8, "closed loop: sales in flight per connection")
	flag.IntVar(&o.terminals, "terminals", 50, "iyzico terminals (one simulated device each)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each measurement runs")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before measuring, not counted")
	flag.StringVar(&o.pprof, "pprof", "", "build the agent with its profile endpoint (tag benchpprof) and write a CPU profile of each measurement to this directory")
	flag.BoolVar(&o.burst, "burst", false, "paced: every connection sends at the same instants (bursts of -conns sales) instead of spread over the interval")
	flag.IntVar(&o.outage, "outage", 10000, "sales queued while the simulator is down, then drained (0: skip)")
	echo := flag.Bool("echo-server", false, "serve a WebSocket echo on 127.0.0.1:0 and print its address (used by the reference run)")
	flag.Parse()
	if *echo {
		serveEcho()
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "busy:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "tezgah-busy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, b := range []string{"tezgah", "tezgah-sim"} {
		args := []string{"build", "-o", filepath.Join(dir, b)}
		if o.pprof != "" && b == "tezgah" {
			args = append(args, "-tags", "benchpprof")
		}
		build := exec.Command("go", append(args, "./cmd/"+b)...)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b, err)
		}
	}
	devices := make([]string, o.terminals)
	for i := range devices {
		devices[i] = fmt.Sprintf("D%03d", i+1)
	}
	sim, simOut, err := start(filepath.Join(dir, "tezgah-sim"), "simulator listening on ",
		"--listen", "127.0.0.1:0", "--latency", "0", "--devices", strings.Join(devices, ","))
	if err != nil {
		return err
	}
	defer stop(sim)
	simURL := strings.Fields(simOut)[0]

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[agent]\nlisten = \"127.0.0.1:0\"\ndata_dir = %q\nlog_level = \"warn\"\n", filepath.Join(dir, "data"))
	fmt.Fprintf(&cfg, "[iyzico]\nbase_url = %q\nclient_id = %q\nclient_secret = %q\nusername = %q\npassword = %q\n",
		simURL, iyzicosim.DemoClientID, iyzicosim.DemoClientSecret, iyzicosim.DemoUsername, iyzicosim.DemoPassword)
	for i, d := range devices {
		fmt.Fprintf(&cfg, "[[terminal]]\nname = \"t%02d\"\nprovider = \"iyzico\"\ndevice_id = %q\nmodel = \"vuk507\"\n", i+1, d)
	}
	cfgPath := filepath.Join(dir, "tezgah.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return err
	}
	var pprofAddr string
	if o.pprof != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return err
		}
		os.Setenv("TEZGAH_PPROF", pprofAddr)
	}
	agent, agentOut, err := start(filepath.Join(dir, "tezgah"), " listening on ", "run", "--config", cfgPath)
	if err != nil {
		return err
	}
	defer stop(agent)
	wsURL := strings.Fields(agentOut)[0]

	echo, echoOut, err := start(os.Args[0], "echo on ", "-echo-server")
	if err != nil {
		return err
	}
	defer stop(echo)
	echoURL := strings.Fields(echoOut)[0]

	fmt.Printf("busy: %d connections, %d terminals, %v a measurement (%d cores)\n",
		o.conns, o.terminals, o.duration, runtime.NumCPU())
	fmt.Printf("reference: one SQLite WAL+FULL commit p50 %.2f ms\n", ms(sqliteCommit(dir)))
	// The direct calls get a simulator of their own: the simulator keeps
	// every payment in memory, and the ~150,000 of a 10 s reference run
	// left the agent's simulator with a 200+ MB heap whose collections
	// took a core for most of a second during the agent's measurements.
	direct, err := directReference(dir, devices, o.duration)
	if err != nil {
		return err
	}
	fmt.Printf("reference: direct calls to a simulator of their own, one worker per terminal: %.0f sales/s\n", direct)

	if o.mode == "paced" || o.mode == "both" {
		e := paced(echoURL, o, true)
		fmt.Printf("pacing: %s\n", map[bool]string{false: "each connection at its own phase (even load)", true: "all connections in step (bursts)"}[o.burst])
		fmt.Printf("reference: echo server paced %d x %.0f/s: p50 %.2f ms, p99 %.2f ms\n", o.conns, o.rate, ms(e.p(50)), ms(e.p(99)))
		prof := profile(pprofAddr, o, "paced")
		cpu := cpuNow(agent, sim)
		a := paced(wsURL, o, false)
		cpuUse := cpu.since()
		prof()
		fmt.Printf("agent paced %d x %.0f/s (%.0f/s offered): accepted %d, busy %d, other errors %d; accept p50 %.2f ms, p99 %.2f ms, max %.2f ms; results %.0f/s; %d without a result %v after the last sale\n",
			o.conns, o.rate, float64(o.conns)*o.rate, len(a.lat), a.busy, a.errors, ms(a.p(50)), ms(a.p(99)), ms(a.p(100)), a.resultsPerSec, a.missing, resultWait)
		fmt.Printf("  CPU: %s\n", cpuUse)
	}
	if o.mode == "closed" || o.mode == "both" {
		prof := profile(pprofAddr, o, "closed")
		cpu := cpuNow(agent, sim)
		c := closed(wsURL, o)
		cpuUse := cpu.since()
		prof()
		fmt.Printf("agent closed loop %d x %d in flight: %.0f sales/s end to end (%.2fx direct), busy %d, other errors %d\n",
			o.conns, o.inflight, c, c/direct, closedBusy.Load(), closedErrors.Load())
		fmt.Printf("  CPU: %s\n", cpuUse)
	}

	t0 := time.Now()
	agent.Process.Signal(syscall.SIGTERM)
	err = agent.Wait()
	fmt.Printf("agent stop on SIGTERM, no call in flight: %.0f ms (%v)\n", ms(time.Since(t0)), err)
	restart(dir, cfgPath)
	if o.outage > 0 {
		outage(dir, cfg.String(), sim, simURL, devices, o)
	}
	return nil
}

// outage stops the simulator, queues o.outage sales on a fresh agent
// (its own outbox; max_queued_per_terminal lifted so they all fit), starts
// the simulator again on the same address and times the drain: from the
// provider being back to the last result.
func outage(dir, cfg string, sim *exec.Cmd, simURL string, devices []string, o options) {
	cfg = strings.Replace(cfg, filepath.Join(dir, "data"), filepath.Join(dir, "data-outage"), 1)
	cfg = strings.Replace(cfg, "[agent]\n", "[agent]\nmax_queued_per_terminal = 1000000\n", 1)
	cfgPath := filepath.Join(dir, "outage.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "busy: outage:", err)
		return
	}
	a, out, err := start(filepath.Join(dir, "tezgah"), " listening on ", "run", "--config", cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "busy: outage:", err)
		return
	}
	defer stop(a)
	stop(sim)
	conns := min(o.conns, 50) // 200 sales each: within the rate limit's burst
	var accepted, approved, other, refused atomic.Int64
	var lastResult atomic.Int64 // unix ns
	allAccepted := make(chan struct{}, conns)
	per := o.outage / conns
	wait := registers(strings.Fields(out)[0], conns, func(n int, c *websocket.Conn) {
		for i := range per {
			msg := fmt.Sprintf(`{"type":"sale","id":"o%03d-%07d","terminal":"t%02d","amount":"1.00","expires_in":3600}`, n, i, 1+(n+i)%o.terminals)
			if c.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
				return
			}
		}
		acc, finals := 0, 0
		c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		for finals < per {
			var ev struct {
				event
				State string `json:"state"`
			}
			if err := c.ReadJSON(&ev); err != nil {
				fmt.Fprintf(os.Stderr, "busy: outage: connection %d: %d of %d answered: %v\n", n, acc, per, err)
				return
			}
			switch ev.Type {
			case "accepted":
				accepted.Add(1)
			case "result":
				finals++
				if ev.State == "approved" || ev.Status == "approved" {
					approved.Add(1)
				} else if other.Add(1) <= 3 {
					fmt.Fprintln(os.Stderr, "busy: outage: result:", ev.State, ev.Status)
				}
				lastResult.Store(time.Now().UnixNano())
			case "error":
				finals++
				refused.Add(1)
				if ev.Error != nil && refused.Load() <= 3 {
					fmt.Fprintln(os.Stderr, "busy: outage: refused:", ev.Error.Code)
				}
			}
			if ev.Type == "accepted" || ev.Type == "error" {
				if acc++; acc == per {
					allAccepted <- struct{}{}
				}
			}
		}
	})
	timeout := time.After(2 * time.Minute)
	for range conns {
		select {
		case <-allAccepted:
		case <-timeout:
			fmt.Fprintf(os.Stderr, "busy: outage: not every sale answered: %d accepted, %d refused\n", accepted.Load(), refused.Load())
			return
		}
	}
	host := strings.TrimPrefix(simURL, "http://")
	back, _, err := start(filepath.Join(dir, "tezgah-sim"), "simulator listening on ",
		"--listen", host, "--latency", "0", "--devices", strings.Join(devices, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "busy: outage: simulator again:", err)
		return
	}
	defer stop(back)
	t0 := time.Now()
	wait()
	fmt.Printf("outage: %d sales accepted while the provider was down (%d refused); drained %.1f s after it came back: %d approved, %d other results\n",
		accepted.Load(), refused.Load(), time.Unix(0, lastResult.Load()).Sub(t0).Seconds(), approved.Load(), other.Load())
}

// restart starts the agent again on the outbox the runs filled and times
// it from exec to the answer of a "status" command.
func restart(dir, cfgPath string) {
	rows := 0
	if db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "data", agent.DBFile)+"?mode=ro"); err == nil {
		var r, e int
		db.QueryRow(`SELECT (SELECT COUNT(*) FROM requests), (SELECT COUNT(*) FROM events)`).Scan(&r, &e)
		rows = r + e
		db.Close()
	}
	t0 := time.Now()
	a, out, err := start(filepath.Join(dir, "tezgah"), " listening on ", "run", "--config", cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "busy: restart:", err)
		return
	}
	defer stop(a)
	c, err := dial(strings.Fields(out)[0], 0)
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if err = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"status"}`)); err == nil {
			var ev event
			for err == nil && ev.Type != "status" {
				err = c.ReadJSON(&ev)
			}
		}
	}
	fmt.Printf("agent restart with %d rows (requests and events) to answering status: %.0f ms (%v)\n", rows, ms(time.Since(t0)), err)
}

// cpuMark is the CPU time used so far by the agent, the simulator and
// this program, to show who had the machine's cores during a run.
type cpuMark struct {
	at               time.Time
	pids             [3]int
	agent, sim, busy float64
}

func cpuNow(agent, sim *exec.Cmd) cpuMark {
	m := cpuMark{at: time.Now(), pids: [3]int{agent.Process.Pid, sim.Process.Pid, os.Getpid()}}
	m.agent, m.sim, m.busy = cpuSecs(m.pids[0]), cpuSecs(m.pids[1]), cpuSecs(m.pids[2])
	return m
}

// since formats the CPU used since m as a share of one core.
func (m cpuMark) since() string {
	wall := time.Since(m.at).Seconds()
	pct := func(pid int, before float64) float64 { return 100 * (cpuSecs(pid) - before) / wall }
	return fmt.Sprintf("agent %.0f%%, simulator %.0f%%, load generator %.0f%% of one core (%d cores)",
		pct(m.pids[0], m.agent), pct(m.pids[1], m.sim), pct(m.pids[2], m.busy), runtime.NumCPU())
}

// cpuSecs reads a process's user+system CPU seconds from /proc.
func cpuSecs(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th of them.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// profile takes a CPU profile of the agent over the measured part of a
// run that starts now, into o.pprof/name.pprof; the returned func waits
// for it. Without -pprof it does nothing.
func profile(addr string, o options, name string) func() {
	if addr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(time.Second + o.warmup) // the run's own schedule: its start and warm-up
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(o.duration.Seconds())))
		if err != nil {
			fmt.Fprintln(os.Stderr, "busy: profile:", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(o.pprof, name+".pprof"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "busy: profile:", err)
			return
		}
		defer f.Close()
		io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}

// resultWait bounds how long a paced run waits for the last results.
const resultWait = 10 * time.Second

// start runs a program and waits for the stdout line containing marker;
// it returns what follows the marker on that line.
func start(bin, marker string, args ...string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), marker); ok {
				lines <- rest
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-lines:
		return cmd, l, nil
	case <-time.After(30 * time.Second):
		stop(cmd)
		return nil, "", fmt.Errorf("%s did not print %q within 30s", filepath.Base(bin), marker)
	}
}

func stop(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
}

// dial opens a WebSocket from the loopback address 127.0.0.<2+n>, so
// that each connection counts as its own register PC for the agent's
// per-address limits.
func dial(url string, n int) (*websocket.Conn, error) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(2+n/250), byte(2+n%250))}
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: src}).DialContext, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(url, nil)
	return c, err
}

// registers dials conns connections, each from its own loopback address
// (dial), and runs fn on each in a goroutine of its own, closing the
// connection after; wait returns once every fn has. A connection that
// cannot be dialled is reported and left out.
func registers(url string, conns int, fn func(n int, c *websocket.Conn)) (wait func()) {
	var wg sync.WaitGroup
	for n := range conns {
		c, err := dial(url, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "busy: dial:", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			fn(n, c)
		}()
	}
	return wg.Wait
}

type event struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  *struct {
		Code string `json:"code"`
	} `json:"error"`
}

type pacedResult struct {
	lat           []time.Duration
	busy, errors  int
	resultsPerSec float64
	missing       int
}

func (r pacedResult) p(q int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	i := len(s) * q / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// paced sends o.rate sales a second on each of o.conns connections and
// times each from when it was due (not when it was written, so a stalled
// sender counts) to its answer: `accepted` from the agent, or the echo.
func paced(url string, o options, echo bool) pacedResult {
	var mu sync.Mutex
	var res pacedResult
	var results atomic.Int64
	interval := time.Duration(float64(time.Second) / o.rate)
	begin := time.Now().Add(time.Second)
	measureFrom := begin.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	registers(url, o.conns, func(n int, c *websocket.Conn) {
		due := map[string]time.Time{}
		var dmu sync.Mutex // guards due, sent, finals
		sent, finals := 0, 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c.SetReadDeadline(time.Now().Add(resultWait + o.duration + o.warmup + 5*time.Second))
				_, b, err := c.ReadMessage()
				if err != nil {
					return
				}
				var ev event
				if json.Unmarshal(b, &ev) != nil {
					continue
				}
				if echo {
					ev.Type, ev.ID = "accepted", echoID(b)
				}
				now := time.Now()
				dmu.Lock()
				t, ok := due[ev.ID]
				dmu.Unlock()
				switch {
				case ev.Type == "accepted" && ok:
					if !t.Before(measureFrom) && t.Before(end) {
						mu.Lock()
						res.lat = append(res.lat, now.Sub(t))
						mu.Unlock()
					}
					if echo {
						dmu.Lock()
						finals++
						dmu.Unlock()
					}
				case ev.Type == "error" && ev.Error != nil:
					mu.Lock()
					if ev.Error.Code == "busy" {
						res.busy++
					} else {
						res.errors++
					}
					mu.Unlock()
					dmu.Lock()
					finals++
					dmu.Unlock()
				case ev.Type == "result":
					dmu.Lock()
					finals++
					dmu.Unlock()
					if !t.Before(measureFrom) && t.Before(end) {
						results.Add(1)
					}
				}
				dmu.Lock()
				all := time.Now().After(end) && finals >= sent
				dmu.Unlock()
				if all {
					return
				}
			}
		}()
		// Registers are independent: each starts at its own point of
		// the interval, so the offered load is even. In step (-burst),
		// 64 sales arrive together every interval.
		phase := time.Duration(0)
		if !o.burst {
			phase = interval * time.Duration(n) / time.Duration(o.conns)
		}
		for i := 0; ; i++ {
			at := begin.Add(phase + time.Duration(i)*interval)
			if !at.Before(end) {
				break
			}
			time.Sleep(time.Until(at)) // pacing the load, not synchronising a test
			id := fmt.Sprintf("p%03d-%07d", n, i)
			dmu.Lock()
			due[id] = at
			sent++
			dmu.Unlock()
			msg := fmt.Sprintf(`{"type":"sale","id":%q,"terminal":"t%02d","amount":"1.00"}`, id, 1+(n+i)%o.terminals)
			if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				break
			}
		}
		select {
		case <-done:
		case <-time.After(resultWait):
			dmu.Lock()
			mu.Lock()
			res.missing += sent - finals
			mu.Unlock()
			dmu.Unlock()
		}
	})()
	res.resultsPerSec = float64(results.Load()) / o.duration.Seconds()
	return res
}

// echoID is the id of an echoed sale.
func echoID(b []byte) string {
	var ev event
	json.Unmarshal(b, &ev)
	return ev.ID
}

var closedBusy, closedErrors atomic.Int64

// closed keeps o.inflight sales outstanding on each connection, sending
// the next the moment one has its result, and counts results a second.
func closed(url string, o options) float64 {
	var results atomic.Int64
	var counting atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), o.warmup+o.duration)
	defer cancel()
	wait := registers(url, o.conns, func(n int, c *websocket.Conn) {
		i := 0
		send := func() error {
			i++
			msg := fmt.Sprintf(`{"type":"sale","id":"c%03d-%07d","terminal":"t%02d","amount":"1.00"}`, n, i, 1+(n+i)%o.terminals)
			return c.WriteMessage(websocket.TextMessage, []byte(msg))
		}
		for range o.inflight {
			if send() != nil {
				return
			}
		}
		go func() { <-ctx.Done(); c.SetReadDeadline(time.Now()) }()
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			var ev event
			if json.Unmarshal(b, &ev) != nil {
				continue
			}
			switch {
			case ev.Type == "result":
				if counting.Load() {
					results.Add(1)
				}
			case ev.Type == "error" && ev.Error != nil:
				if ev.Error.Code == "busy" {
					closedBusy.Add(1)
				} else {
					closedErrors.Add(1)
				}
			default:
				continue
			}
			if send() != nil {
				return
			}
		}
	})
	time.AfterFunc(o.warmup, func() { counting.Store(true) })
	wait()
	return float64(results.Load()) / o.duration.Seconds()
}

// directReference runs directCalls against a fresh simulator process,
// stopped afterwards.
func directReference(dir string, devices []string, d time.Duration) (float64, error) {
	sim, out, err := start(filepath.Join(dir, "tezgah-sim"), "simulator listening on ",
		"--listen", "127.0.0.1:0", "--latency", "0", "--devices", strings.Join(devices, ","))
	if err != nil {
		return 0, err
	}
	defer stop(sim)
	return directCalls(strings.Fields(out)[0], devices, d), nil
}

// directCalls sends the sale the agent would send straight to the
// simulator, one worker per terminal, through the same adapter.
func directCalls(simURL string, devices []string, d time.Duration) float64 {
	cl, err := iyzico.NewClient(iyzico.Config{BaseURL: simURL, ClientID: iyzicosim.DemoClientID, ClientSecret: iyzicosim.DemoClientSecret,
		Username: iyzicosim.DemoUsername, Password: iyzicosim.DemoPassword})
	if err != nil {
		fmt.Fprintln(os.Stderr, "busy: direct:", err)
		return 0
	}
	amt, _ := money.Parse("1.00", "TRY")
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for w, dev := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				r := bridge.Request{ID: "direct", Op: bridge.OpSale, Amount: amt,
					Terminal:  bridge.Terminal{Name: dev, Provider: "iyzico", DeviceID: dev, Model: iyzico.VUK507},
					Reference: fmt.Sprintf("DC%03d%010d", w, i)}
				res, err := cl.Send(ctx, r)
				if err == nil && res.Status == bridge.Approved {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// sqliteCommit times single-row commits in WAL mode with synchronous=FULL,
// as the outbox commits, on the same disk.
func sqliteCommit(dir string) time.Duration {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ref.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return 0
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		return 0
	}
	var lat []time.Duration
	for i := range 300 {
		t0 := time.Now()
		if _, err := db.Exec(`INSERT INTO t (v) VALUES (?)`, fmt.Sprint(i)); err != nil {
			return 0
		}
		lat = append(lat, time.Since(t0))
	}
	return pacedResult{lat: lat}.p(50)
}

func serveEcho() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "busy: echo:", err)
		os.Exit(1)
	}
	fmt.Printf("echo on ws://%s/\n", ln.Addr())
	up := websocket.Upgrader{}
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			t, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(t, b) != nil {
				return
			}
		}
	}))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		os.Exit(1)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
