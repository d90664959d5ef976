// Package wsapi is the agent's WebSocket front door: protocol v1 at
// /v1/ws. Each connection has one reader goroutine (decode, validate,
// hand to the Backend) and one writer goroutine that owns the socket's
// write side and streams committed outbox events to the register.
//
// A connection belongs to one register: the one its hello names, its
// pairing token's, or "local" (ids are scoped per register). It sees the
// events of the requests it sent, queried, cancelled or sent again on it
// (following a request never stops before its result); after "resume" it
// sees every event of its register (or, with scope "all", of every
// register) after the given seq and everything new, which is how a
// register that reconnects misses nothing.
//
// The same commands come over plain HTTP for registers that cannot speak
// WebSocket (http.go): POST /v1/commands answers with the first event,
// GET /v1/requests/{id}?wait=S with the latest, long-polling for the
// result. Both doors share the checks, limits and command handling.
//
// Before upgrading, the server checks the Host header (DNS rebinding), the
// Origin header (cross-site WebSocket hijacking: browser pages from other
// sites) and, for clients not on loopback, the pairing token, slowing
// down addresses that keep presenting wrong ones (admit.go). Per client
// address it bounds open connections and the command rate; per
// connection the frame size; and it closes connections whose pongs stop.
package wsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent/hostcheck"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/outbox"
)

// Backend is what the server needs from the agent.
type Backend interface {
	// Submit validates and durably stores a request command. existing is
	// true when the id was known with the same body; ev is then its
	// latest event. Validation failures are *protocol.Error.
	// c.Register names the register; ids are scoped per register, and
	// so are Lookup's and Cancel's. Refusing with busy is Submit's.
	Submit(ctx context.Context, c protocol.Command) (ev outbox.Event, existing bool, err error)
	Lookup(ctx context.Context, register, id string) (outbox.Event, error)
	Cancel(ctx context.Context, register, id string) (outbox.Event, error)
	Status(ctx context.Context) (protocol.Event, error)
	Events(ctx context.Context, since int64, limit int) ([]outbox.Event, error)
	Changed() <-chan struct{}
	LastSeq() int64
	// Call runs a provider operation that moves no money and returns its
	// "reply" event. Failures are *protocol.Error.
	Call(ctx context.Context, c protocol.Command) (protocol.Event, error)
}

// maxCalls bounds the calls one connection may have in flight: each waits
// on a provider, and a register should not be able to pile them up.
const maxCalls = 4

// Options configure a Server.
type Options struct {
	// AgentID is the agent's name in hello answers (agent.id).
	AgentID        string
	AllowedOrigins []string // exact Origin values browsers may connect from
	AllowedHosts   []string // Host names accepted besides IP literals and localhost
	PairingToken   string   // legacy single token (agent.pairing_token); empty: none
	// Tokens checks the paired registers' tokens; nil: only PairingToken.
	Tokens TokenChecker
	// RequireTokenOnLoopback makes clients on this machine present a
	// token too.
	RequireTokenOnLoopback bool
	// MaxFrameBytes bounds a command frame (default 64 KiB): a larger one
	// gets frame_too_large and is skipped; one over 16 times that closes
	// the connection.
	MaxFrameBytes int64
	// Rate and Burst bound commands per client address, over all its
	// connections (token bucket).
	Rate  float64 // per second, default 100
	Burst int     // default 200
	// MaxConnsPerClient bounds open connections from one address;
	// default 8.
	MaxConnsPerClient int
	// PingInterval is how often the server pings; a connection silent
	// for 2.5 intervals is closed. Default 20s.
	PingInterval time.Duration
	Log          *slog.Logger
	Now          func() time.Time // for the bad-token slow-down; default time.Now
	// Observer is told of connections opened, closed and refused, for
	// metrics. Nil: nobody listens.
	Observer Observer
}

// Observer watches connections; its methods must not block.
type Observer interface {
	// Connection is called with one of ConnectionEvents.
	Connection(event string)
	// Delivered is called once the result event (seq) of register's
	// request id has been written to a register's connection, live,
	// replayed or answering a query.
	Delivered(register, id string, seq int64)
}

// What Observer.Connection is told: the values of /metrics'
// tezgah_websocket_connections_total{event}. A refusal's event is
// shorter than its code (refusedEvents), and stable like it.
const (
	EventOpened = "opened"
	EventClosed = "closed"
)

// refusedEvents maps a refused handshake's code to its event.
var refusedEvents = map[string]string{
	CodeHostNotAllowed:            "refused_host",
	CodeOriginNotAllowed:          "refused_origin",
	CodeTokenRequired:             "refused_token",
	CodeTokenInvalid:              "refused_bad_token",
	CodeTooManyBadTokens:          "refused_locked_out",
	CodePairingUnavailable:        "refused_pairing",
	CodeTooManyConnections:        "refused_too_many",
	protocol.CodeRegisterMismatch: "refused_register",
}

// ConnectionEvents lists every event Observer.Connection may be told,
// so counters can start at zero before the first one.
var ConnectionEvents = []string{EventOpened, EventClosed,
	"refused_host", "refused_origin", "refused_token", "refused_bad_token",
	"refused_locked_out", "refused_pairing", "refused_too_many", "refused_register"}

func refused(code string) string {
	if e, ok := refusedEvents[code]; ok {
		return e
	}
	return "refused_" + code // a code not mapped yet: still counted
}

func (s *Server) observe(event string) {
	if s.opts.Observer != nil {
		s.opts.Observer.Connection(event)
	}
}

// Server serves protocol v1.
type Server struct {
	b    Backend
	opts Options
	up   websocket.Upgrader
	log  *slog.Logger

	hosts hostcheck.Guard

	mu        sync.Mutex // guards conns, closed, clients, penalties, buckets, refusals, seen, every conn's shown
	conns     map[*conn]struct{}
	closed    bool
	clients   map[string]*client // by remote IP, while it has connections
	penalties map[string]*penalty
	// buckets are the command rate limits by remote IP, shared by its
	// WebSocket connections and its HTTP requests; they outlive the
	// connections, or an HTTP client would start full on every request.
	buckets  map[string]*bucket
	refusals []Refusal            // the last hour's refused attempts, oldest first (registers.go)
	seen     map[string]*httpSeen // HTTP registers seen lately, by reqKey(register, remote) (registers.go)
	quit     chan struct{}        // closed by Drain: long polls answer now
	quitOnce sync.Once
	routing  bool // the router runs (route.go)
	wg       sync.WaitGroup

	rmu         sync.Mutex         // guards watchers and every conn's interest
	watchers    map[string][]*conn // request key (reqKey) → connections it is routed to
	stopRouting chan struct{}
}

// client is one remote address with open connections.
type client struct {
	conns  int // guarded by Server.mu
	bucket *bucket
}

// bucket is one remote address's command rate limit (token bucket).
type bucket struct {
	mu     sync.Mutex // guards tokens, last
	tokens float64
	last   time.Time
}

// New returns a Server for b.
func New(b Backend, opts Options) *Server {
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = 64 << 10
	}
	if opts.Rate <= 0 {
		opts.Rate = 100
	}
	if opts.Burst <= 0 {
		opts.Burst = 200
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 20 * time.Second
	}
	if opts.MaxConnsPerClient <= 0 {
		opts.MaxConnsPerClient = 8
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{b: b, opts: opts, log: opts.Log, conns: map[*conn]struct{}{},
		clients: map[string]*client{}, penalties: map[string]*penalty{},
		buckets: map[string]*bucket{}, seen: map[string]*httpSeen{}, quit: make(chan struct{}),
		watchers: map[string][]*conn{}, stopRouting: make(chan struct{})}
	s.hosts = hostcheck.New(opts.AllowedHosts)
	s.up = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     s.originAllowed,
	}
	return s
}

func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: registers and scripts send none
	}
	for _, o := range s.opts.AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// ServeHTTP upgrades a request to a protocol v1 connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	register, no := s.admit(r)
	if no != nil {
		s.refused(r, "", no.code)
		s.log.Warn("refused WebSocket", "code", no.code, "remote", r.RemoteAddr, "host", r.Host, "origin", r.Header.Get("Origin"))
		no.write(w)
		return
	}
	ip := remoteIP(r).String()
	// The slot is taken before the upgrade, so a burst of handshakes
	// cannot overshoot the limit; it is refused after the upgrade so
	// the register sees the reason in the close frame, which every
	// WebSocket API shows, where many hide an HTTP answer's body.
	s.mu.Lock()
	cl, full := s.takeSlot(ip)
	s.mu.Unlock()
	cw := &corkingWriter{ResponseWriter: w}
	ws, err := s.up.Upgrade(cw, r, nil)
	if err != nil || full {
		// The slot goes back before the register can see the refusal: one
		// that closes another connection and retries at once must find it
		// free.
		s.release(ip, cl)
		if full && err == nil {
			s.refused(r, register, CodeTooManyConnections)
			s.log.Warn("refused WebSocket", "code", CodeTooManyConnections, "remote", r.RemoteAddr)
			closeWith(ws, websocket.ClosePolicyViolation, closeReason(CodeTooManyConnections,
				"over %d connections from %s; close unused ones", s.opts.MaxConnsPerClient, ip))
		}
		return // on err the upgrader has answered
	}
	c := &conn{
		s: s, ws: ws, cork: cw.conn, cl: cl, ip: ip,
		out:      make(chan item, 64),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		interest: map[string]bool{},
		calls:    make(chan struct{}, maxCalls),
		log:      s.log.With("remote", r.RemoteAddr),
		since:    s.opts.Now(),
		register: outbox.Local,
		shown:    outbox.Local,
	}
	if register != "" {
		// A paired register is its pairing's, hello or not.
		c.register, c.bound, c.shown = register, true, register
		c.log = c.log.With("register", register)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.release(ip, cl)
		closeWith(ws, websocket.CloseGoingAway, "shutting down")
		return
	}
	// The stream starts at what is committed now, before the reader can
	// take a command: the "accepted" of a register's first command must
	// not fall before the writer's (or the router's) starting point.
	start := s.b.LastSeq()
	s.startRouting(start)
	s.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	s.observe(EventOpened)
	c.log.Info("register connected")
	go c.writer(start)
	go c.reader()
}

// closeWith sends a close frame with a reason and closes the socket.
func closeWith(ws *websocket.Conn, code int, reason string) {
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	ws.Close()
}

// takeSlot counts one more connection (a WebSocket, or an HTTP door
// request while it runs) of the client at ip; full when that is over
// the limit. The slot is taken either way: release gives it back.
// s.mu held.
func (s *Server) takeSlot(ip string) (cl *client, full bool) {
	cl = s.clients[ip]
	if cl == nil {
		cl = &client{bucket: s.bucketOf(ip)}
		s.clients[ip] = cl
	}
	cl.conns++
	return cl, cl.conns > s.opts.MaxConnsPerClient
}

// release gives back a connection slot of the client at ip.
func (s *Server) release(ip string, cl *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cl.conns--; cl.conns == 0 && s.clients[ip] == cl {
		delete(s.clients, ip)
	}
}

// Shutdown closes every connection with "going away" and waits for their
// goroutines. Registers reconnect and resume; nothing is lost since
// everything they were sent is in the outbox.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.mu.Lock()
	if !s.closed {
		close(s.stopRouting)
	}
	s.closed = true
	for c := range s.conns {
		c.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Conns reports the number of open connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// item is one thing for the writer: an event, or a resume.
type item struct {
	ev     protocol.Event
	resume *int64
	scope  string        // the resume's
	reg    string        // the connection's register, for scope "register"
	ack    chan struct{} // closed once the writer has taken the resume
}

type conn struct {
	s    *Server
	ws   *websocket.Conn
	cork *corkConn // ws's socket (cork.go)
	cl   *client
	ip   string
	out  chan item
	done chan struct{}
	once sync.Once
	log  *slog.Logger

	interest map[string]bool // request keys (reqKey) routed here; guarded by s.rmu

	// register is who the connection speaks for; bound once a hello, the
	// pairing token or a first command has fixed it. Reader goroutine
	// only (the writer learns it with a resume).
	register string
	bound    bool
	since    time.Time
	shown    string                      // register, for the status page; guarded by s.mu
	last     atomic.Pointer[CommandSeen] // for the status page (registers.go)

	qmu   sync.Mutex     // guards queue
	queue []outbox.Event // routed here, not yet written
	wake  chan struct{}  // signalled when queue grows

	calls chan struct{} // semaphore of calls in flight

	// closing is set by the reader before it sends a close frame of its
	// own and reads what the register still sends (closeDraining): the
	// writer then leaves closing the socket to the reader.
	closing atomic.Bool
}

func (c *conn) stop() {
	c.once.Do(func() { close(c.done) })
}

func (c *conn) send(ev protocol.Event) {
	select {
	case c.out <- item{ev: ev}:
	case <-c.done:
	}
}

func (c *conn) allow() bool { return c.s.allow(c.cl.bucket) }

// allow takes one command from b, false when it is empty.
func (s *Server) allow(b *bucket) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(float64(s.opts.Burst), b.tokens+now.Sub(b.last).Seconds()*s.opts.Rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// maxBuckets bounds the rate-limit memory; past it, buckets that have
// refilled (their address sent nothing for a while) are forgotten.
const maxBuckets = 4096

// bucketOf returns ip's rate-limit bucket. s.mu held.
func (s *Server) bucketOf(ip string) *bucket {
	if b := s.buckets[ip]; b != nil {
		return b
	}
	if len(s.buckets) >= maxBuckets {
		now := time.Now()
		for k, b := range s.buckets {
			b.mu.Lock()
			full := b.tokens+now.Sub(b.last).Seconds()*s.opts.Rate >= float64(s.opts.Burst)
			b.mu.Unlock()
			if full {
				delete(s.buckets, k)
			}
		}
	}
	b := &bucket{tokens: float64(s.opts.Burst), last: time.Now()}
	s.buckets[ip] = b
	return b
}

func (c *conn) reader() {
	defer c.s.wg.Done()
	defer c.stop()
	wait := c.s.opts.PingInterval * 5 / 2
	// Frames over MaxFrameBytes are skipped with an error event, not
	// fatal; one over hardCap closes the connection (counted here rather
	// than with SetReadLimit, whose close frame carries no reason).
	hardCap := 16 * c.s.opts.MaxFrameBytes
	var flood floodWindow // commands refused by the rate limit lately
	var buf bytes.Buffer
	c.ws.SetReadDeadline(time.Now().Add(wait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(wait)) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		// The last frame may have carried a card (Vomsis): wipe it rather
		// than keep it while waiting for the next one.
		clear(buf.Bytes())
		typ, r, err := c.ws.NextReader()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() && ctx.Err() == nil {
				c.log.Info("register silent; closing", "code", CodeIdleTimeout)
				closeWith(c.ws, websocket.CloseGoingAway, closeReason(CodeIdleTimeout, "no pong for %v", wait))
				return
			}
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) && ctx.Err() == nil {
				c.log.Info("register disconnected", "err", err)
			}
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(wait))
		// One buffer serves every frame of the connection: handle keeps
		// nothing of data once it returns.
		buf.Reset()
		if _, err := buf.ReadFrom(io.LimitReader(r, c.s.opts.MaxFrameBytes+1)); err != nil {
			return
		}
		data := buf.Bytes()
		if int64(len(data)) > c.s.opts.MaxFrameBytes {
			n, err := io.Copy(io.Discard, io.LimitReader(r, hardCap-int64(len(data))+1))
			if err != nil {
				return
			}
			if int64(len(data))+n > hardCap {
				c.log.Warn("frame over the hard limit; closing", "code", CodeFrameTooLarge, "limit", hardCap)
				c.closeDraining(websocket.CloseMessageTooBig, closeReason(CodeFrameTooLarge,
					"frame over %d bytes; commands are at most %d", hardCap, c.s.opts.MaxFrameBytes))
				return
			}
			c.send(protocol.ErrorEvent("", protocol.Errorf(protocol.CodeFrameTooLarge, "",
				"frame is larger than %d bytes; nothing was stored", c.s.opts.MaxFrameBytes)))
			continue
		}
		if typ != websocket.TextMessage {
			c.send(protocol.ErrorEvent("", protocol.Errorf(protocol.CodeUnsupportedFrame, "", "send commands as text frames of UTF-8 JSON")))
			continue
		}
		if !c.allow() {
			if flood.refuse(time.Now(), c.s.opts.Burst) {
				// The register ignores rate_limited errors: stop
				// answering each frame and let it reconnect slower.
				// Counted over a window, not in a row: a steady
				// flooder gets one command through per refill.
				c.log.Warn("command flood; closing", "code", CodeRateLimited)
				c.closeDraining(websocket.ClosePolicyViolation, closeReason(CodeRateLimited,
					"over %d commands refused within %v; at most %.0f per second", c.s.opts.Burst, floodSpan, c.s.opts.Rate))
				return
			}
			c.send(protocol.ErrorEvent(peekID(data), protocol.Errorf(protocol.CodeRateLimited, "",
				"more than %.0f commands per second; nothing was stored, send it again", c.s.opts.Rate)))
			continue
		}
		c.handle(ctx, data)
	}
}

// floodSpan is the window over which refused commands are counted: more
// than Burst refusals within it close the connection.
const floodSpan = 5 * time.Second

// floodWindow remembers the times of a connection's last refusals, up to
// Burst+1 of them (allocated at the first refusal: most connections never
// have one). Reader goroutine only.
type floodWindow struct {
	at   []time.Time // ring buffer
	next int
}

// refuse records a refusal at now and reports whether more than burst
// fell within floodSpan.
func (f *floodWindow) refuse(now time.Time, burst int) bool {
	if f.at == nil {
		f.at = make([]time.Time, burst+1)
	}
	f.at[f.next] = now
	f.next = (f.next + 1) % len(f.at)
	// f.at[f.next] is now the oldest of the last burst+1 refusals (zero
	// while fewer have been recorded).
	oldest := f.at[f.next]
	return !oldest.IsZero() && now.Sub(oldest) <= floodSpan
}

// closeDrainWait bounds how long a closing connection keeps reading what
// the register still sends before its close frame.
const closeDrainWait = 2 * time.Second

// closeDraining closes the connection so that the register reads the
// close frame: it sends it, then reads and discards the register's
// frames until the register's own close frame (or closeDrainWait), and
// only then closes the socket. Closing with the register's frames unread
// makes the kernel reset the connection, and the register would see the
// reset (1006) instead of the reason. Reader goroutine only.
func (c *conn) closeDraining(code int, reason string) {
	c.closing.Store(true)
	c.stop() // the writer stops writing events, and leaves the socket to us
	deadline := time.Now().Add(closeDrainWait)
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	c.ws.SetReadDeadline(deadline)
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			break // the register's close frame, the deadline or a reset
		}
	}
	c.ws.Close()
}

// peekID finds the id of a command that failed to decode, so the error
// event can name it when possible.
func peekID(data []byte) string {
	var v struct {
		ID any `json:"id"`
	}
	_ = json.Unmarshal(data, &v)
	id, _ := v.ID.(string)
	if len(id) > 64 {
		return ""
	}
	return id
}

func (c *conn) handle(ctx context.Context, data []byte) {
	cmd, perr := protocol.Decode(data)
	if perr != nil {
		c.send(protocol.ErrorEvent(peekID(data), perr))
		return
	}
	switch cmd.Type {
	case protocol.TypeHello:
		c.hello(cmd.Register)
		return
	case protocol.TypePing, protocol.TypeStatus:
	default:
		// The first command of a connection that never named itself
		// makes it "local"'s for good: a later hello must not move its
		// requests to another register.
		c.bound = true
	}
	cmd.Register = c.register
	c.s.noteCommand(c, cmd)
	switch cmd.Type {
	case protocol.TypeResume:
		// The reader waits until the writer has moved its cursor: events
		// of commands read after the resume must come after the replay,
		// or the stream would go back in seq.
		since, ack := cmd.Since, make(chan struct{})
		select {
		case c.out <- item{resume: &since, scope: cmd.Scope, reg: c.register, ack: ack}:
		case <-c.done:
			return
		}
		select {
		case <-ack:
		case <-c.done:
		}
	case protocol.TypeCall:
		c.call(ctx, cmd)
	default:
		a := c.s.command(ctx, c, cmd)
		if !a.streamed {
			c.send(a.ev)
		}
		// Otherwise the event is a committed one (a new "accepted", a
		// cancel's result) and reaches this connection through the
		// stream, in seq order.
	}
}

// hello binds the connection to register, or refuses a second name.
func (c *conn) hello(register string) {
	if c.bound && register != c.register {
		c.s.refusedCommand(c, register, protocol.CodeRegisterMismatch)
		c.send(protocol.ErrorEvent("", protocol.Errorf(protocol.CodeRegisterMismatch, "register",
			"this connection is register %q (by its pairing token, hello or first command); open a new connection for %q", c.register, register)))
		return
	}
	if !c.bound {
		// c.log stays as it is: the writer goroutine uses it too.
		c.register, c.bound = register, true
		c.s.noteHello(c)
	}
	c.send(protocol.Hello(c.register, c.s.opts.AgentID, c.s.b.LastSeq()))
}

// call runs a provider call off the reader goroutine, so a slow provider
// never stops the register's other commands; its reply goes through the
// writer like every other frame.
func (c *conn) call(ctx context.Context, cmd protocol.Command) {
	select {
	case c.calls <- struct{}{}:
	default:
		c.send(protocol.ErrorEvent(cmd.ID, protocol.Errorf(protocol.CodeRateLimited, "",
			"%d calls are already waiting for the provider on this connection; send it again when one has answered", maxCalls)))
		return
	}
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		defer func() { <-c.calls }()
		ev, err := c.s.b.Call(ctx, cmd) // cmd.Register was set by handle
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) {
				pe = c.s.internal(err)
			}
			c.send(protocol.ErrorEvent(cmd.ID, pe))
			return
		}
		c.send(ev)
	}()
}

const writeWait = 10 * time.Second

// writer owns the socket's write side. Until the register resumes it
// writes the events routed to it (its own requests'); after, every event
// past the resume point, read from the log. cursor is the seq of the last
// event written, or where the stream starts: routed events at or before
// it are not sent again.
func (c *conn) writer(cursor int64) {
	defer c.s.wg.Done()
	defer func() {
		c.stop()
		c.unwatchAll()
		if !c.closing.Load() {
			c.ws.Close() // unblocks the reader
		}
		// The slot goes back before the connection leaves Conns, so
		// whoever sees the count drop can connect again at once.
		c.s.release(c.ip, c.cl)
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.s.observe(EventClosed)
	}()
	ping := time.NewTicker(c.s.opts.PingInterval)
	defer ping.Stop()
	b := c.s.b
	var delivered []protocol.Event // results written in this batch, told to the observer once sent
	write := func(ev protocol.Event) bool {
		c.ws.SetWriteDeadline(time.Now().Add(writeWait))
		if err := c.ws.WriteJSON(ev); err != nil {
			c.log.Info("write failed; closing", "err", err)
			return false
		}
		if ev.Type == outbox.EventResult && c.s.opts.Observer != nil {
			delivered = append(delivered, ev)
		}
		return true
	}
	var changed <-chan struct{} // nil until resumed: only routed events wake the writer
	all := false
	only := ""                     // after a resume of scope "register": that register's events
	var next *item                 // taken from c.out while waiting: written first in the next batch
	handle := func(it item) bool { // a reply, or a resume: the stream starts over from its point
		if it.resume == nil {
			return write(it.ev)
		}
		all = true
		only = ""
		if it.scope != protocol.ScopeAll {
			only = it.reg
		}
		cursor = min(*it.resume, b.LastSeq())
		last := b.LastSeq()
		close(it.ack)
		return write(protocol.Event{Type: "resumed", Since: it.resume, LastSeq: &last, Scope: it.scope})
	}
	for {
		// Everything ready now leaves in one write (cork.go).
		c.cork.cork()
		if next != nil {
			it := *next
			next = nil
			if !handle(it) {
				return
			}
		}
		if all {
			changed = b.Changed()
			c.take() // the log has them too: every request this connection follows is in its scope
			var ok bool
			cursor, ok = readPages(b, c.log, cursor, func(evs []outbox.Event) bool {
				for _, e := range evs {
					if only != "" && e.Register != only {
						continue
					}
					if !write(protocol.FromOutbox(e)) {
						return false
					}
				}
				return true
			})
			if !ok {
				return
			}
		} else {
			for _, e := range c.take() {
				if e.Seq <= cursor {
					continue
				}
				cursor = e.Seq
				if !write(protocol.FromOutbox(e)) {
					return
				}
			}
		}
	replies:
		for next == nil {
			select {
			case it := <-c.out:
				if it.resume != nil {
					next = &it // before anything else, the stream starts over from its point
					break replies
				}
				if !write(it.ev) {
					return
				}
			default:
				break replies
			}
		}
		if err := c.cork.uncork(); err != nil {
			c.log.Info("write failed; closing", "err", err)
			return
		}
		for _, ev := range delivered {
			c.s.opts.Observer.Delivered(ev.Register, ev.ID, ev.Seq)
		}
		delivered = delivered[:0]
		if next != nil {
			continue
		}
		select {
		case <-c.done:
			if c.closing.Load() {
				return // the reader has sent its own close frame
			}
			c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "agent shutting down"), time.Now().Add(time.Second))
			return
		case <-changed:
		case <-c.wake:
		case it := <-c.out:
			next = &it
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		}
	}
}
