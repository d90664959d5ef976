package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// event is the part of protocol v1 events the tests read.
type event struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Seq     int64  `json:"seq"`
	State   string `json:"state"`
	Status  string `json:"status"`
	Replay  bool   `json:"replay"`
	Payment struct {
		PaymentID string `json:"payment_id"`
	} `json:"payment"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// register behaves like a careful cash register: it keeps the last seq
// it processed, resumes from it on every reconnect, and sends again (same
// id, same body) every command it has not seen "accepted" for.
type register struct {
	t *testing.T
	// name, when set, is sent in a hello first on every connection; the
	// register then resumes in its own scope (issue 16).
	name string
	// processed counts the non-replay results taken per id: following
	// the cursor rule (keep the highest seq of non-replay events, resume
	// from it) a register processes each result exactly once.
	processed map[string]int
	url       func() string
	cmds      map[string][]byte // id -> command
	// deps holds, for a command that names another (a refund its sale),
	// the id it must not be sent before: the agent refuses an original it
	// has not accepted yet.
	deps  map[string]string
	order []string // ids in the order added

	mu        sync.Mutex // guards the fields below
	lastSeq   int64
	accepted  map[string]bool
	acceptSeq map[string]int64 // seq of the "accepted" event
	results   map[string]event
	problems  []string
	changed   chan struct{}
	// limited holds the commands the agent refused as rate_limited
	// ("nothing was stored, send it again"): sent again after a pause.
	limited map[string]bool
	slowed  chan struct{} // signalled when limited grows
}

func newRegister(t *testing.T, url func() string) *register {
	return &register{t: t, url: url, processed: map[string]int{}, cmds: map[string][]byte{}, deps: map[string]string{}, accepted: map[string]bool{}, acceptSeq: map[string]int64{},
		results: map[string]event{}, changed: make(chan struct{}, 1), limited: map[string]bool{}, slowed: make(chan struct{}, 1)}
}

func (r *register) add(id string, cmd map[string]any) {
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	r.cmds[id] = b
	r.order = append(r.order, id)
}

// addAfter adds a command that is sent only once after is accepted.
func (r *register) addAfter(after, id string, cmd map[string]any) {
	r.add(id, cmd)
	r.deps[id] = after
}

// ready returns the commands not yet accepted whose dependency is, in the
// order they were added, leaving out those already sent in this session.
func (r *register) ready(sent map[string]bool) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for id := range r.limited {
		delete(sent, id)
		delete(r.limited, id)
	}
	for _, id := range r.order {
		if r.accepted[id] || sent[id] {
			continue
		}
		if dep := r.deps[id]; dep != "" && !r.accepted[dep] {
			continue
		}
		sent[id] = true
		out = append(out, r.cmds[id])
	}
	return out
}

func (r *register) run(ctx context.Context) {
	for ctx.Err() == nil {
		r.session(ctx)
		select { // agent down: try again shortly
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *register) session(ctx context.Context) {
	d := websocket.Dialer{HandshakeTimeout: 2 * time.Second}
	c, _, err := d.DialContext(ctx, r.url(), nil)
	if err != nil {
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if r.name != "" {
		if err := c.WriteJSON(map[string]any{"type": "hello", "register": r.name}); err != nil {
			return
		}
	}
	r.mu.Lock()
	since := r.lastSeq
	r.mu.Unlock()
	if err := c.WriteJSON(map[string]any{"type": "resume", "since": since}); err != nil {
		return
	}
	// The writer sends what is ready, then waits for an event to make
	// more ready (a refund's sale accepted), until the session ends.
	sctx, endSession := context.WithCancel(ctx)
	defer endSession()
	go func() {
		sent := map[string]bool{}
		for {
			for _, cmd := range r.ready(sent) {
				if c.WriteMessage(websocket.TextMessage, cmd) != nil {
					return
				}
			}
			select {
			case <-sctx.Done():
				return
			case <-r.changed:
			case <-r.slowed:
				// Refused for sending too fast: pause as a register
				// would, then send those again.
				select {
				case <-sctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		ev, problem := decodeEvent(data)
		if problem != "" {
			r.mu.Lock()
			r.problems = append(r.problems, problem)
			r.mu.Unlock()
		}
		r.observe(ev)
	}
}

func (r *register) observe(ev event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Seq > 0 && !ev.Replay {
		if ev.Seq <= r.lastSeq {
			// resume replays from lastSeq exclusive; an older seq on the
			// stream would be a protocol bug.
			r.problems = append(r.problems, fmt.Sprintf("seq went back: %d after %d", ev.Seq, r.lastSeq))
		}
		r.lastSeq = ev.Seq
	}
	if _, mine := r.cmds[ev.ID]; !mine {
		return
	}
	switch ev.Type {
	case "accepted", "state":
		r.accepted[ev.ID] = true
		if ev.Type == "accepted" && ev.Seq > 0 {
			r.acceptSeq[ev.ID] = ev.Seq
		}
	case "result":
		r.accepted[ev.ID] = true
		if !ev.Replay {
			if r.processed[ev.ID]++; r.processed[ev.ID] > 1 {
				r.problems = append(r.problems, fmt.Sprintf("%s: result processed %d times (seq %d)", ev.ID, r.processed[ev.ID], ev.Seq))
			}
		}
		if prev, ok := r.results[ev.ID]; ok && (prev.Status != ev.Status || prev.Payment.PaymentID != ev.Payment.PaymentID) {
			r.problems = append(r.problems, fmt.Sprintf("%s: result changed from %s/%s to %s/%s", ev.ID, prev.Status, prev.Payment.PaymentID, ev.Status, ev.Payment.PaymentID))
		}
		r.results[ev.ID] = ev
	case "error":
		if ev.Error != nil && ev.Error.Code == "rate_limited" && !r.accepted[ev.ID] {
			r.limited[ev.ID] = true
			select {
			case r.slowed <- struct{}{}:
			default:
			}
			return
		}
		if ev.Error != nil && ev.Error.Code != "shutting_down" && ev.Error.Code != "unavailable" {
			r.problems = append(r.problems, fmt.Sprintf("%s: error %s: %s", ev.ID, ev.Error.Code, ev.Error.Message))
		}
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *register) done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.results) == len(r.cmds)
}

func (r *register) counts() (accepted, final int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted), len(r.results)
}
