package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// benchAgent starts an agent with n terminals on an in-process simulator
// that answers every call after latency.
func benchAgent(b *testing.B, n int, latency time.Duration) string {
	b.Helper()
	TuneGC() // as `tezgah run` does
	cfg := config.Demo()
	cfg.Terminals = nil
	cfg.Paywall, cfg.Vomsis = nil, nil
	cfg.Filedrop.Enabled = false
	var devices []string
	for i := 1; i <= n; i++ {
		dev := fmt.Sprint("DEV", i)
		devices = append(devices, dev)
		cfg.Terminals = append(cfg.Terminals, config.Terminal{Name: fmt.Sprint("kasa-", i), Provider: "iyzico", DeviceID: dev, Model: "vuk507"})
	}
	sim := iyzicosim.New(iyzicosim.Options{ClientID: cfg.Iyzico.ClientID, ClientSecret: cfg.Iyzico.ClientSecret,
		Username: cfg.Iyzico.Username, Password: cfg.Iyzico.Password, Devices: devices})
	sim.SetFaults(iyzicosim.Faults{Latency: latency})
	ts := httptest.NewServer(sim)
	b.Cleanup(ts.Close)
	cfg.Iyzico.BaseURL = ts.URL
	cfg.Agent.DataDir = b.TempDir()
	cfg.Agent.Listen = "127.0.0.1:0"
	// The benchmarks measure how fast the agent accepts, so the busy
	// bounds, which would refuse most of their flood, are lifted.
	cfg.Agent.MaxQueuedPerTerminal, cfg.Agent.MaxAcceptWait.Duration = 1<<30, time.Minute
	ready := make(chan string, 1)
	a, _ := New(cfg, Options{Version: "bench", Ready: func(u string) { ready <- u },
		tuneWS: func(o *wsapi.Options) { o.Rate, o.Burst, o.MaxConnsPerClient = 1e9, 1<<30, 1000 }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case u := <-ready:
		return u
	case <-done:
		b.Fatal("agent did not start")
		return ""
	}
}

type msg struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Error json.RawMessage `json:"error"`
}

// BenchmarkAcceptLatency: one command in, its "accepted" out, over real
// WebSocket connections, with 1 and 64 registers sending at once. With
// provider=instant the simulator answers at once, so the workers carry
// every accepted sale to it flat out on the same cores; with
// provider=card it answers after 2 s, as a terminal does while the
// customer presents the card, and the workers mostly wait — a shop's
// real load.
func BenchmarkAcceptLatency(b *testing.B) {
	for _, bc := range []struct {
		name    string
		latency time.Duration
	}{{"instant", 0}, {"card", 2 * time.Second}} {
		for _, conns := range []int{1, 64} {
			b.Run(fmt.Sprintf("provider=%s/conns=%d", bc.name, conns), func(b *testing.B) {
				benchAccept(b, benchAgent(b, 2, bc.latency), conns)
			})
		}
	}
}

// registers dials conns register connections and has each send one sale
// and wait for its "accepted", so that the timed part measures connected
// registers and a warm agent, not dialling and first-use costs.
func registers(b *testing.B, url string, conns int) []*websocket.Conn {
	wss := make([]*websocket.Conn, conns)
	for c := range wss {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ws.Close() })
		wss[c] = ws
	}
	onConnections(wss, func(c int, ws *websocket.Conn) {
		if err := sell(ws, "W"+strconv.Itoa(c)); err != nil {
			b.Error(err)
		}
	})
	if b.Failed() {
		b.FailNow()
	}
	return wss
}

// onConnections runs fn on each connection in its own goroutine and
// returns when all have finished.
func onConnections(wss []*websocket.Conn, fn func(c int, ws *websocket.Conn)) {
	var wg sync.WaitGroup
	for c, ws := range wss {
		wg.Go(func() { fn(c, ws) })
	}
	wg.Wait()
}

// The load generators do as little as they can: they share the cores with
// the agent, and their work is not the agent's latency.

func saleFrame(id string) []byte {
	return []byte(`{"type":"sale","id":"` + id + `","terminal":"kasa-1","amount":"1.00","expires_in":3600}`)
}

// sell sends a sale and waits for its "accepted".
func sell(ws *websocket.Conn, id string) error {
	ws.WriteMessage(websocket.TextMessage, saleFrame(id))
	for {
		m, err := readEvent(ws)
		if err != nil {
			return err
		}
		if m.Type == "accepted" && m.ID == id {
			return nil
		}
	}
}

// readEvent reads the next frame; an error event is an error.
func readEvent(ws *websocket.Conn) (msg, error) {
	var m msg
	_, data, err := ws.ReadMessage()
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, err
	}
	if m.Type == "error" {
		return m, fmt.Errorf("%s: %s", m.ID, m.Error)
	}
	return m, nil
}

func benchAccept(b *testing.B, url string, conns int) {
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	wss := registers(b, url, conns)
	b.ResetTimer()
	onConnections(wss, func(c int, ws *websocket.Conn) {
		for {
			i := next.Add(1) - 1
			if i >= int64(b.N) {
				return
			}
			t0 := time.Now()
			if err := sell(ws, "B"+strconv.Itoa(c)+"-"+strconv.FormatInt(i, 10)); err != nil {
				b.Error(err)
				return
			}
			lat[i] = time.Since(t0)
		}
	})
	b.StopTimer()
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkAcceptLatencyPaced: 64 registers that each send a sale at a
// fixed interval, from 3,200 to 21,333 sales/s in all — hundreds of times
// a shop's rate, up to near the agent's saturation, where
// BenchmarkAcceptLatency runs. Latency measured at saturation is set by
// the number of clients waiting in line rather than by the agent, so the
// p99 is reported against the offered load, as a curve. Each sale is
// timed from when it was due rather than when it went out, so a stall
// counts against every sale it held back (no coordinated omission). The
// provider takes 2 s.
func BenchmarkAcceptLatencyPaced(b *testing.B) {
	const conns = 64
	for _, every := range []time.Duration{20 * time.Millisecond, 10 * time.Millisecond,
		5 * time.Millisecond, 4 * time.Millisecond, 3 * time.Millisecond} {
		rate := int(conns * time.Second / every)
		b.Run(fmt.Sprintf("rate=%d/s", rate), func(b *testing.B) {
			benchPaced(b, benchAgent(b, 2, 2*time.Second), conns, every)
		})
	}
}

func benchPaced(b *testing.B, url string, conns int, every time.Duration) {
	lat := make([]time.Duration, b.N)
	due := make([]atomic.Int64, b.N) // unix ns; written by the sender, read by the receiver
	wss := registers(b, url, conns)
	b.ResetTimer()
	start := time.Now()
	onConnections(wss, func(c int, ws *websocket.Conn) {
		mine := max(0, (b.N-c+conns-1)/conns) // sales c, c+conns, c+2*conns, ...
		got := make(chan error, 1)
		go func() {
			for n := 0; n < mine; {
				m, err := readEvent(ws)
				if err != nil {
					got <- err
					return
				}
				if m.Type != "accepted" {
					continue
				}
				i, _ := strconv.Atoi(strings.TrimPrefix(m.ID, "P"))
				lat[i] = time.Since(time.Unix(0, due[i].Load()))
				n++
			}
			got <- nil
		}()
		// Registers are spread over the interval, as real ones are.
		offset := every * time.Duration(c) / time.Duration(conns)
		for k, i := 0, c; i < b.N; k, i = k+1, i+conns {
			at := start.Add(offset + every*time.Duration(k))
			due[i].Store(at.UnixNano())
			time.Sleep(time.Until(at)) // pacing the load, not waiting for a result
			ws.WriteMessage(websocket.TextMessage, saleFrame("P"+strconv.Itoa(i)))
		}
		if err := <-got; err != nil {
			b.Error(err)
		}
	})
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkSalesEndToEnd: sales from accept to approved result across 50
// terminals against the simulator with zero latency.
func BenchmarkSalesEndToEnd(b *testing.B) {
	const terminals = 50
	url := benchAgent(b, terminals, 0)
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := range b.N {
			ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"sale","id":"E%d","terminal":"kasa-%d","amount":"1.00","expires_in":3600}`, i, 1+i%terminals)))
		}
	}()
	for got := 0; got < b.N; {
		var m msg
		if err := ws.ReadJSON(&m); err != nil {
			b.Fatal(err)
		}
		switch m.Type {
		case "result":
			got++
		case "error":
			b.Fatalf("%s: %s", m.ID, m.Error)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sales/s")
}
