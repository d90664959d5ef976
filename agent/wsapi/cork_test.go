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

var (
	text1      = []byte{0x81, 0x03, 'o', 'n', 'e'} // text frames, unmasked (server to client)
	text2      = []byte{0x81, 0x03, 't', 'w', 'o'}
	ping       = []byte{0x89, 0x00}
	closeFrame = []byte{0x88, 0x02, 0x03, 0xe8}
)

func TestCorkHoldsDataFrames(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := &corkConn{Conn: a}
	defer c.Close()

	// Nobody reads yet, and any write that reaches the pipe times out.
	a.SetWriteDeadline(time.Now())
	c.cork()
	for _, f := range [][]byte{text1, text2} {
		if n, err := c.Write(f); err != nil || n != len(f) {
			t.Fatalf("corked write = %d, %v; want it held", n, err)
		}
	}
	if _, err := c.Write(ping); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("control frame while corked: err %v; want it written at once (deadline exceeded)", err)
	}

	a.SetWriteDeadline(time.Time{})
	reads := pipeReads(t, b)
	c.cork()
	c.Write(text1)
	c.Write(text2)
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if got, want := nextRead(t, reads), append(bytes.Clone(text1), text2...); !bytes.Equal(got, want) {
		t.Fatalf("uncork wrote %x; want both frames in one write %x", got, want)
	}

	// Uncorked, every write goes straight out.
	c.Write(text1)
	if got := nextRead(t, reads); !bytes.Equal(got, text1) {
		t.Fatalf("uncorked write arrived as %x; want %x", got, text1)
	}
}

func TestCorkKeepsOrderAroundControlFrames(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := &corkConn{Conn: a}
	defer c.Close()
	reads := pipeReads(t, b)

	c.cork()
	c.Write(text1)
	done := make(chan error, 1)
	go func() { _, err := c.Write(closeFrame); done <- err }()
	// The close frame goes out while corked, after the frame held before it.
	if got := nextRead(t, reads); !bytes.Equal(got, text1) {
		t.Fatalf("first write %x; want the held frame %x", got, text1)
	}
	if got := nextRead(t, reads); !bytes.Equal(got, closeFrame) {
		t.Fatalf("second write %x; want the close frame %x", got, closeFrame)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Write(text2) // still corked: held
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if got := nextRead(t, reads); !bytes.Equal(got, text2) {
		t.Fatalf("after uncork %x; want %x", got, text2)
	}
}

func TestCorkStreamsALongBatch(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := &corkConn{Conn: a}
	defer c.Close()
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
