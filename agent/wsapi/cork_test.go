package wsapi

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// A net.Pipe write completes only when the other end reads it, so what
// a corkConn holds is seen as a write that returns with nothing read,
// and each write that reaches the pipe arrives as one read.

// corkPipe returns a corkConn on one end of a net.Pipe, and the other end.
func corkPipe(t *testing.T) (*corkConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &corkConn{Conn: a}, b
}

// pipeReads reads b until it closes: each write that reached the pipe is
// one read.
func pipeReads(t *testing.T, b net.Conn) <-chan []byte {
	t.Helper()
	reads := make(chan []byte, 16)
	go func() {
		defer close(reads)
		buf := make([]byte, 256<<10)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			reads <- bytes.Clone(buf[:n])
		}
	}()
	return reads
}

func nextRead(t *testing.T, reads <-chan []byte) []byte {
	t.Helper()
	select {
	case p, ok := <-reads:
		if !ok {
			t.Fatal("pipe closed")
		}
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no write reached the peer")
		return nil
	}
}

// expectRead checks that the next write to reach the peer is want.
func expectRead(t *testing.T, reads <-chan []byte, want []byte, what string) {
	t.Helper()
	if got := nextRead(t, reads); !bytes.Equal(got, want) {
		t.Fatalf("%s: the peer read %x; want %x", what, got, want)
	}
}

var (
	text1      = []byte{0x81, 0x03, 'o', 'n', 'e'} // text frames, unmasked (server to client)
	text2      = []byte{0x81, 0x03, 't', 'w', 'o'}
	ping       = []byte{0x89, 0x00}
	closeFrame = []byte{0x88, 0x02, 0x03, 0xe8}
)

func TestCorkHoldsDataFrames(t *testing.T) {
	c, b := corkPipe(t)

	// Nobody reads yet, and any write that reaches the pipe times out.
	c.SetWriteDeadline(time.Now())
	c.cork()
	for _, f := range [][]byte{text1, text2} {
		if n, err := c.Write(f); err != nil || n != len(f) {
			t.Fatalf("corked write = %d, %v; want it held", n, err)
		}
	}
	if _, err := c.Write(ping); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("control frame while corked: err %v; want it written at once (deadline exceeded)", err)
	}

	c.SetWriteDeadline(time.Time{})
	reads := pipeReads(t, b)
	c.cork()
	c.Write(text1)
	c.Write(text2)
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	expectRead(t, reads, append(bytes.Clone(text1), text2...), "uncork: both frames in one write")

	c.Write(text1)
	expectRead(t, reads, text1, "uncorked: straight out")
}

func TestCorkKeepsOrderAroundControlFrames(t *testing.T) {
	c, b := corkPipe(t)
	reads := pipeReads(t, b)

	c.cork()
	c.Write(text1)
	done := make(chan error, 1)
	go func() { _, err := c.Write(closeFrame); done <- err }()
	// The close frame goes out while corked, after the frame held before it.
	expectRead(t, reads, text1, "the held frame first")
	expectRead(t, reads, closeFrame, "then the close frame")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Write(text2) // still corked: held
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	expectRead(t, reads, text2, "after uncork")
}

func TestCorkStreamsALongBatch(t *testing.T) {
	c, b := corkPipe(t)
	reads := pipeReads(t, b)

	frame := append([]byte{0x82, 0x7e, 0x04, 0x00}, make([]byte, 1024)...) // binary, 1 KiB payload
	c.cork()
	done := make(chan struct{})
	total := 0
	go func() {
		defer close(done)
		for total < 4*maxHeld {
			c.Write(frame)
			total += len(frame)
		}
	}()
	// Without an uncork, what is held past maxHeld reaches the peer.
	got := len(nextRead(t, reads))
	if got < maxHeld {
		t.Fatalf("first write of a long batch %d bytes; want at least %d", got, maxHeld)
	}
	for got < 3*maxHeld {
		got += len(nextRead(t, reads))
	}
	<-done
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	for got < total {
		got += len(nextRead(t, reads))
	}
	if got != total {
		t.Fatalf("peer read %d bytes; want %d", got, total)
	}
}
