package web_test

import (
	"testing"
	"time"
)

// poll checks cond until it holds or a deadline passes. The pause
// between checks is not synchronisation: cond reads the real state.
func poll(t *testing.T, what string, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if why != nil {
				msg = why()
			}
			t.Fatalf("timed out waiting for %s\n%s", what, msg)
		}
		<-tick.C
	}
}
