package testwait

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records a Fatalf and ends its goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	<-done
}

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	f := &fatalTB{TB: t}
	run(func() { For(f, "three checks", 5*time.Second, func() bool { return n.Add(1) >= 3 }, nil) })
	if f.msg != "" || n.Load() != 3 {
		t.Fatalf("failed %q after %d checks", f.msg, n.Load())
	}
}

func TestForFailsAtTheDeadlineWithTheReason(t *testing.T) {
	f := &fatalTB{TB: t}
	run(func() {
		For(f, "never", 20*time.Millisecond, func() bool { return false }, func() string { return "the logs" })
	})
	if !strings.Contains(f.msg, "waiting for never") || !strings.Contains(f.msg, "the logs") {
		t.Fatalf("failure %q", f.msg)
	}
}
