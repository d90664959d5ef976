package wsapi

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// Corking. After a group commit the router hands a connection several
// events at once (the "accepted" of new sales, the results of others),
// and gorilla/websocket writes each message with a write(2) of its own:
// one TCP segment, one wake-up of the register's reader, a system call
// per event. The connection's writer corks the socket while it writes
// what is ready and sends it in one write when nothing more is: in the
// closed-loop measurement (bench/busy) writes to registers were a tenth
// of the agent's CPU, nearly all of it in the system call.
//
// Control frames (close, ping, pong) are never held: gorilla writes them
// from other goroutines too (the reader's close frame, its pongs), and a
// close frame held in a buffer could be lost with the socket. One goes
// out at once, after whatever was held before it, so the order on the
// wire is the order of the writes.

// maxHeld is how much a corked connection holds before writing anyway.
const maxHeld = 32 << 10

// corkConn is a net.Conn whose writes can be held and sent together.
type corkConn struct {
	net.Conn

	mu     sync.Mutex // guards corked, held and every write to Conn
	corked bool
	held   []byte
}

// Write sends p, or holds it while corked unless it starts a control
// frame. gorilla/websocket writes a frame's header and payload in one
// call, or as two calls for a long message; a payload whose first byte
// looks like a control opcode only makes what is held go out early.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked && !(len(p) > 0 && p[0]&0x0f >= 0x8) {
		c.held = append(c.held, p...)
		if len(c.held) >= maxHeld {
			// A long replay streams on: what is held goes out, the
			// write deadline bounding it as it bounds every write.
			if err := c.flushLocked(); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// cork holds writes until uncork.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what is held, in one write, and stops holding. The write
// deadline is the one gorilla set for the last message held.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

func (c *corkConn) flushLocked() error {
	if len(c.held) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.held)
	if cap(c.held) > 2*maxHeld {
		c.held = nil // one large burst does not pin its buffer for the connection's life
	} else {
		c.held = c.held[:0]
	}
	return err
}

// corkingWriter hands gorilla/websocket's upgrader a corkConn in place of
// the hijacked connection.
type corkingWriter struct {
	http.ResponseWriter
	conn *corkConn
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	nc, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc}
	return w.conn, rw, nil
}
