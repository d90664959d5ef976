package wine

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// event is the part of protocol v1 events the lane reads.
type event struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Seq     int64  `json:"seq"`
	State   string `json:"state"`
	Status  string `json:"status"`
	Replay  bool   `json:"replay"`
	LastSeq int64  `json:"last_seq"`
	Payment struct {
		PaymentID string `json:"payment_id"`
	} `json:"payment"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// register is a cash register's connection, from Linux over loopback,
// independent of tezgah's own code: gorilla/websocket and the JSON of
// docs/protocol.md.
type register struct {
	t      *testing.T
	c      *websocket.Conn
	events chan event
	seen   []event // everything read, for failure messages
}

func dial(t *testing.T, url string) *register {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	r := &register{t: t, c: c, events: make(chan event, 256)}
	go func() {
		defer close(r.events)
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			var ev event
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Errorf("not JSON: %s", b)
				return
			}
			r.events <- ev
		}
	}()
	t.Cleanup(func() { c.Close() })
	return r
}

func (r *register) send(cmd map[string]any) {
	r.t.Helper()
	b, _ := json.Marshal(cmd)
	r.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := r.c.WriteMessage(websocket.TextMessage, b); err != nil {
		r.t.Fatalf("send %s: %v", b, err)
	}
}

// next waits for the next event that match accepts, skipping others;
// an error event ends the test.
func (r *register) next(what string, within time.Duration, match func(event) bool) event {
	r.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-r.events:
			if !ok {
				r.t.Fatalf("connection closed waiting for %s; read %+v", what, r.seen)
			}
			r.seen = append(r.seen, ev)
			if ev.Type == "error" {
				r.t.Fatalf("error event waiting for %s: %+v", what, ev.Error)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			r.t.Fatalf("no %s within %v; read %+v", what, within, r.seen)
		}
	}
}

func (r *register) result(id string, within time.Duration) event {
	r.t.Helper()
	return r.next("result of "+id, within, func(ev event) bool { return ev.Type == "result" && ev.ID == id })
}

// count is how many events of type typ for id the register has read.
func (r *register) count(typ, id string) int {
	n := 0
	for _, ev := range r.seen {
		if ev.Type == typ && ev.ID == id {
			n++
		}
	}
	return n
}

func (r *register) close() {
	r.c.Close()
	for ev := range r.events { // drain until the reader ends
		r.seen = append(r.seen, ev)
	}
}

func describe(evs []event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%+v\n", ev)
	}
	return b.String()
}
