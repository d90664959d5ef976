package web_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/logging"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/internal/agenttest"
	"github.com/tezgah/tezgah/internal/wireschema"
)

// demo is the demo agent (in-process iyzico simulator, terminals kasa-1
// and kasa-2) running on a temp dir and a free loopback port.
type demo struct {
	base  string // http://127.0.0.1:PORT
	wsURL string
	logs  *logBuffer
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	return startAgent(t, config.Demo(), true)
}

// startAgent runs the agent for cfg on a temp dir and a free loopback
// port; demo runs the provider simulators in-process.
func startAgent(t *testing.T, cfg *config.Config, demoMode bool) *demo {
	t.Helper()
	logs := &logBuffer{t: t}
	d := &demo{logs: logs}
	d.wsURL = agenttest.Run(t, cfg, agent.Options{
		Version: "test", Demo: demoMode,
		Log: logging.New(logs, slog.LevelInfo),
	})
	d.base = "http://" + strings.TrimSuffix(strings.TrimPrefix(d.wsURL, "ws://"), "/v1/ws")
	return d
}

// logBuffer keeps the agent's log lines and copies them to the test log.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (d *demo) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(d.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// register is a cash register on a real WebSocket.
type register struct {
	t *testing.T
	c *websocket.Conn
}

func (d *demo) dial(t *testing.T) *register {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(d.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &register{t: t, c: c}
}

func (r *register) send(v any) {
	r.t.Helper()
	b, _ := json.Marshal(v)
	if err := r.c.WriteMessage(websocket.TextMessage, b); err != nil {
		r.t.Fatal(err)
	}
}

// until reads events until one of type typ for id arrives.
func (r *register) until(typ, id string) protocol.Event {
	r.t.Helper()
	for {
		r.c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, data, err := r.c.ReadMessage()
		if err != nil {
			r.t.Fatalf("waiting for %s of %s: %v", typ, id, err)
		}
		// Every event must be one the protocol's JSON Schema describes.
		if err := wireschema.ForTest(r.t).Event(data); err != nil {
			r.t.Errorf("the agent sent an event outside the schema: %v", err)
		}
		var ev protocol.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			r.t.Fatalf("decode %s: %v", data, err)
		}
		if ev.Type == typ && ev.ID == id {
			return ev
		}
		if ev.Type == "error" && ev.ID == id {
			r.t.Fatalf("error for %s: %+v", id, ev.Error)
		}
	}
}

func (r *register) sale(id, terminal, amount string) protocol.Event {
	r.t.Helper()
	r.send(map[string]string{"type": "sale", "id": id, "terminal": terminal, "amount": amount})
	return r.until("result", id)
}
